"""Text intelligence's part of every case event (settings.KESU_CASE_EVENT_SUBSCRIBERS)."""

from __future__ import annotations

from kesu.insight.services import record_choice


def on_event(case, event, rules) -> None:
    if event.action == "accept" and case.category_id is not None and event.actor is not None:
        # The person's choice against the triage suggestion: the text model's feedback signal.
        feedback = record_choice(case, case.category.code, event.actor)
        event.payload["suggested_category"] = feedback.suggested or None
