"""The deadline engine's part of every case event (listed in settings.KESU_CASE_EVENT_SUBSCRIBERS)."""

from __future__ import annotations

from kesu.sla import services


def on_event(case, event, rules) -> None:
    if event.action == "extend_deadline":
        # The handler checked the request; the stage table decides how far the deadline may move,
        # and the new due date becomes part of the event.
        event.payload.update(services.apply_extension(case, rules, event))
    services.after_case_event(case, event, rules)
    if event.action in ("register", "accept") and (event.payload or {}).get("recipient_role"):
        services.announce_report_to_recipient(case, event)
