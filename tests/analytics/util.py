"""Helpers that walk cases through the real lifecycle at chosen instants."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from kesu.cases.actions.after_closing import follow_up_from
from kesu.cases.services import perform, register_case
from kesu.policy.selectors import rules_for
from tests.factories import complaint_data

SH = ZoneInfo("Asia/Shanghai")


def at(y: int, m: int, d: int, h: int = 10, mi: int = 0) -> dt.datetime:
    return dt.datetime(y, m, d, h, mi, tzinfo=SH)


def register(org, when: dt.datetime, *, registered: dt.datetime | None = None, **overrides):
    data = complaint_data(received_at=when.isoformat(), **overrides)
    return register_case(actor=org.intake, data=data, now=registered or when + dt.timedelta(minutes=5)).case


def to_investigating(org, case, when: dt.datetime):
    perform(case, "accept", org.intake, now=when)
    perform(case, "assign", org.intake, now=when, department="QUALITY", handler=org.handler.pk)
    perform(case, "start_investigation", org.handler, now=when, contacted_customer=True)
    case.refresh_from_db()
    return case


def close(org, case, when: dt.datetime, *, start: dt.datetime | None = None):
    """accept → assign → investigate → explain (no approval) → reply → close, all at `when` (or `start`)."""
    start = start or when
    to_investigating(org, case, start)
    perform(case, "propose_remedy", org.handler, now=start, remedy_type="explanation", description="解释说明")
    perform(case, "reply", org.handler, now=when, text="已向客户说明")
    perform(case, "close", org.handler, now=when, criterion="accepted")
    case.refresh_from_db()
    return case


def special_close(org, case, when: dt.datetime):
    to_investigating(org, case, when)
    perform(case, "request_special_closure", org.handler, now=when, reason="诉求远超损失")
    perform(case, "approve", org.supervisor, now=when)
    perform(case, "approve", org.manager, now=when)
    case.refresh_from_db()
    return case


def follow_up(org, case, when: dt.datetime, score: int):
    """The follow-up call at `when`, or on the first day it may be made (001 篇9: day 5 after closing)."""
    case.refresh_from_db()
    earliest = follow_up_from(case, rules_for(case.policy_id))
    if earliest is not None and when < earliest:
        when = earliest + dt.timedelta(hours=10)
    perform(case, "follow_up", org.followup, now=when, score=score)
    case.refresh_from_db()
    return case
