"""Major and crisis cases are handled the same calendar day (000 第2篇 第九条一3, 第六条三（一）), the
final opinion on a crisis case included, and the leaders hear of them at once (kesu.sla.handoffs)."""

from __future__ import annotations

import datetime as dt

import pytest

from kesu.calendar.workcalendar import SHANGHAI, Duration, get_calendar
from kesu.cases.services import register_case
from kesu.sla.models import Notification, StageDeadline
from kesu.sla.selectors import answer_promise
from tests import factories
from tests.cases.helpers import Walk

pytestmark = pytest.mark.django_db


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def test_same_day_unit_ends_at_the_end_of_the_calendar_day_even_on_a_holiday(org):
    cal = get_calendar()
    assert cal.deadline(at("2026-12-05 22:10"), Duration(1, "same_day")).due == at("2026-12-05 23:59:59")
    assert cal.deadline(at("2026-10-01 09:00"), Duration(1, "same_day")).due == at("2026-10-01 23:59:59")
    assert str(Duration(1, "same_day")) == "当日"


def test_major_case_answered_and_investigated_the_same_day_leaders_told_at_once(org):
    received = at("2026-12-07 10:00")  # a Monday
    case = register_case(actor=org.intake, data=factories.complaint_data(flags=["injury"]), now=received).case
    assert case.level == "major"
    answer = StageDeadline.objects.get(case=case, stage="answer")
    assert (answer.unit, answer.due_at) == ("same_day", at("2026-12-07 23:59:59"))
    # what the complainant is told
    assert answer_promise(case).text == "当日答复（最迟 2026-12-07）"
    # the leaders (not the intake agent) have it in their inbox at once
    for leader in (org.supervisor, org.manager):
        assert Notification.objects.filter(user=leader, case=case, kind="handoff.major").exists()
    assert not Notification.objects.filter(user=org.intake, kind="handoff.major").exists()

    walk = Walk(case)
    walk("accept", org.intake, now=at("2026-12-07 10:05"))
    walk("assign", org.intake, handler=org.handler.pk, now=at("2026-12-07 10:10"))
    investigation = StageDeadline.objects.get(case=case, stage="investigation")
    assert investigation.due_at == at("2026-12-07 23:59:59")
    walk.assert_timeline()


def test_crisis_case_final_opinion_same_day_and_the_general_manager_told(org):
    received = at("2026-12-05 20:00")  # a Saturday evening: no roll to Monday
    case = register_case(actor=org.intake, data=factories.complaint_data(channel="media"), now=received).case
    assert case.level == "crisis"
    answer = StageDeadline.objects.get(case=case, stage="answer")
    assert answer.due_at == at("2026-12-05 23:59:59")
    assert Notification.objects.filter(user=org.gm, case=case, kind="handoff.crisis").exists()
    # a normal complaint keeps the 3 working days
    normal = register_case(actor=org.intake, data=factories.complaint_data(), now=received).case
    assert StageDeadline.objects.get(case=normal, stage="answer").unit == "working_days"
