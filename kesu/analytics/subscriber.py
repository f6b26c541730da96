"""The rollups' part of every case event and of every bulk-import chunk (settings.KESU_CASE_EVENT_SUBSCRIBERS)."""

from __future__ import annotations

from kesu.analytics import figures, rollups
from kesu.analytics.models import CaseCloseTime
from kesu.cases.models import OPEN_STATUSES

CLOSE_TIME_COLUMNS = ["case_id", "closed_at", "working_hours"]


def on_event(case, event, rules) -> None:
    # every event, neutral ones included; a "register" event is always a case new in this transaction
    moved = rollups.case_changed(
        case, created=event.action == "register", was_open=event.from_status in OPEN_STATUSES
    )
    # Whatever the event changed, the cached figures are renewed after the commit: the page's, and the
    # weekly parts of the week the case was received in; the parts read from the daily counts only when
    # the event moved them.
    figures.changed([case.received_at], counts=moved)


def on_events(items) -> None:
    """`perform_many`: the rollups of the set's cases in a fixed number of statements; a set of
    registrations (`register_many`: cases new in this transaction, no rows yet): their count keys and
    day counts in two statements, as for an imported chunk."""
    if all(event.action == "register" for _case, event, _rules in items):
        rollups.cases_created([(case.pk, *rollups.count_key(case)) for case, _event, _rules in items])
        moved = bool(items)
    else:
        moved = rollups.cases_changed_many([case for case, _event, _rules in items])
    figures.changed([case.received_at for case, _event, _rules in items], counts=moved)


def on_imported(chunk) -> None:
    """The day counts and close times of the rows the importer wrote in this chunk (set-based)."""
    if chunk.close_times:
        chunk.insert_rows(CaseCloseTime, CLOSE_TIME_COLUMNS, chunk.close_times)
    rollups.cases_created(chunk.count_keys)
    if chunk.changed_case_ids:
        rollups.cases_changed(chunk.changed_case_ids)
    figures.changed()  # rows of any week (and updated cases whose receipt may have moved): every week
