from __future__ import annotations

import datetime as dt

from kesu.calendar.workcalendar import SHANGHAI
from kesu.cases.services import perform, register_case
from tests import factories


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def register(org, when: str, **overrides):
    now = at(when)
    data = factories.complaint_data(received_at=now.isoformat(), **overrides)
    return register_case(actor=org.intake, data=data, now=now).case


def to_investigation(org, case, when: str, *, contact: bool = True):
    t = at(when)
    perform(case, "accept", org.intake, now=t)
    perform(
        case,
        "assign",
        org.intake,
        now=t + dt.timedelta(minutes=5),
        department="QUALITY",
        handler=org.handler.pk,
    )
    perform(
        case, "start_investigation", org.handler, now=t + dt.timedelta(minutes=20), contacted_customer=contact
    )
    return case
