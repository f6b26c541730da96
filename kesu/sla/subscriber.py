"""The deadline engine's part of every case event (listed in settings.KESU_CASE_EVENT_SUBSCRIBERS)."""

from __future__ import annotations

from kesu.sla import services
from kesu.sla.selectors import REGISTERED_STAGES, answer_promise


def before_register(case, event, rules) -> None:
    """The deadlines of a case about to be inserted: its binding deadline goes into the insert."""
    services.before_registration(case, event, rules)


def before_update(case, event, rules) -> None:
    """A case changed by an action, before `perform` updates its row: its binding deadline goes into
    that update."""
    if event.action != "extend_deadline":
        # An extension moves a stage in `on_event` first (`apply_extension`): computed there, as before.
        services.before_case_update(case, event, rules)


def on_event(case, event, rules) -> None:
    if event.action == "extend_deadline":
        # The handler checked the request; the stage table decides how far the deadline may move,
        # and the new due date becomes part of the event.
        event.payload.update(services.apply_extension(case, rules, event))
    stages = services.after_case_event(case, event, rules)
    if event.action == "register":
        # The stages of the case just created, as written: the create endpoint presents them unread
        # (`kesu.sla.selectors.registered_stages`).
        case.__dict__[REGISTERED_STAGES] = sorted(stages or [], key=lambda s: (s.starts_at, s.pk))
    if event.action in ("register", "accept") and (event.payload or {}).get("recipient_role"):
        services.announce_report_to_recipient(case, event)
    if event.action in PROMISING_ACTIONS:
        # What the complainant was told, kept on the (public) event itself: the promise stands as given
        # even when the policy or the calendar changes later.
        promise = answer_promise(case, stages=stages)
        if promise is not None and not promise.paused:
            event.payload["answer_promise"] = promise.as_payload()


def on_events(items) -> None:
    """A set of events in one call (`perform_many`, `register_many`). A set of registrations (cases new
    in this transaction, without stages) is set-based: the stages of all of them in one insert and
    their binding deadlines in one update; any other set: `on_event` per event, in order."""
    if not all(event.action == "register" for _case, event, _rules in items):
        for case, event, rules in items:
            on_event(case, event, rules)
        return
    for (case, event, _rules), stages in zip(items, services.after_registrations(items), strict=True):
        case.__dict__[REGISTERED_STAGES] = sorted(stages, key=lambda s: (s.starts_at, s.pk))
        if (event.payload or {}).get("recipient_role"):
            services.announce_report_to_recipient(case, event)
        promise = answer_promise(case, stages=stages)
        if promise is not None and not promise.paused:
            event.payload["answer_promise"] = promise.as_payload()


# Events after which the complainant is (again) told by when they will be answered.
PROMISING_ACTIONS = frozenset({"register", "extend_deadline", "resume", "reopen"})
