"""The presets' rules as the seeds write them, seen through the lifecycle: clocks, hotel times, penalties,
the 12315 acceptance decision, anonymous reports and the whistle-blowing extension."""

from __future__ import annotations

import copy

import pytest

from kesu.calendar.workcalendar import format_instant
from kesu.cases.models import Accountability
from kesu.cases.services import perform, register_case
from kesu.errors import Forbidden, Invalid
from kesu.org import roles
from kesu.policy.models import Policy
from kesu.policy.services import activate_document
from kesu.sla.models import StageDeadline
from tests import factories

from .helpers import at, register

pytestmark = pytest.mark.django_db


def stage(case, name: str) -> StageDeadline:
    return StageDeadline.objects.get(case=case, stage=name)


def dispatch(org, case, when: str, *, department: str = "QUALITY", handler=None) -> None:
    perform(case, "accept", org.intake, now=at(when))
    perform(
        case, "assign", org.intake, now=at(when), department=department, handler=(handler or org.handler).pk
    )


# --- "2 小时" is clock time --------------------------------------------------------------------------


def test_two_hours_after_a_friday_evening_dispatch_end_the_same_evening(org):
    # 001 篇9 四2.1: the customer is called back within 2 hours of the dispatch — clock hours, so a case
    # dispatched on Friday 17:30 is due at 19:30 that Friday, not on Monday 10:30 in working hours.
    case = register(org, "2026-11-27 17:00")  # a Friday
    dispatch(org, case, "2026-11-27 17:30")
    first = stage(case, "first_contact")
    assert (first.unit, first.amount) == ("calendar_hours", 2)
    assert format_instant(first.due_at) == "2026-11-27T19:30:00+08:00"
    perform(case, "start_investigation", org.handler, now=at("2026-11-30 09:30"), contacted_customer=True)
    first.refresh_from_db()
    assert first.state == "met" and first.is_breached  # Monday morning is too late
    # The answer deadline keeps working days (000 第2篇 第七条二): Friday + 3 working days.
    assert format_instant(stage(case, "answer").due_at) == "2026-12-02T23:59:59+08:00"


# --- hotel: 001 篇8 ------------------------------------------------------------------------------------


def test_hotel_complaint_after_the_stay_has_three_working_days_not_24_hours():
    o = factories.org("hotel")
    case = register(o, "2026-11-27 10:00", category="room.cleanliness")  # Friday
    answer = stage(case, "answer")
    assert (answer.amount, answer.unit) == (3, "working_days")
    assert format_instant(answer.due_at) == "2026-12-02T23:59:59+08:00"
    # No 15-minute first contact the seeds never set: the general 2 clock hours apply.
    dispatch(o, case, "2026-11-27 10:30")
    assert format_instant(stage(case, "first_contact").due_at) == "2026-11-27T12:30:00+08:00"


# --- penalties: 000 第2篇 第九条 --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "channel,amounts",
    [
        ("regulator_local", (100, 100)),  # 当地监管局转发: 100 / 100
        ("regulator_national", (200, 200)),  # 国家监管机构转发: 200 / 200
        ("media", (200, 200)),
        ("internet", (200, 200)),
    ],
)
def test_a_crisis_case_is_fined_by_its_source(channel, amounts):
    o = factories.org("insurance")
    case = register(o, "2026-11-23 09:00", channel=channel, category="claims.delay")
    assert case.level == "crisis"
    dispatch(o, case, "2026-11-23 09:10", department="CLAIMS", handler=o.claims_handler)
    record = Accountability.objects.get(case=case, reason="graded")
    assert (record.person_amount, record.supervisor_amount) == amounts
    assert record.basis == f"channel:{channel}"


def test_a_preset_without_fines_in_its_seeds_only_reminds():
    o = factories.org("hotel")
    case = register(o, "2026-11-23 09:00", category="fnb.hygiene")  # a major category in the hotel preset
    assert case.level == "major"
    dispatch(o, case, "2026-11-23 09:10")
    record = Accountability.objects.get(case=case, reason="graded")
    assert (record.person_amount, record.supervisor_amount, record.reminder) == (0, 0, True)


# --- 12315: accept or refuse within 7 working days --------------------------------------------------


def test_12315_complaint_must_be_accepted_or_refused_within_seven_working_days():
    o = factories.org("auto_dealer", ["samr_12315"])
    case = register(o, "2026-11-27 10:00", channel="12315", category="vehicle.engine")
    acceptance = stage(case, "acceptance")
    assert (acceptance.amount, acceptance.unit, acceptance.state) == (7, "working_days", "open")
    assert format_instant(acceptance.due_at) == "2026-12-08T23:59:59+08:00"
    perform(case, "accept", o.intake, now=at("2026-11-30 09:00"))
    acceptance.refresh_from_db()
    assert acceptance.state == "met" and not acceptance.is_breached
    # A phone complaint under the same rules has no such decision stage.
    other = register(o, "2026-11-27 10:00", channel="phone", category="vehicle.engine")
    assert not StageDeadline.objects.filter(case=other, stage="acceptance").exists()


# --- whistle-blowing ---------------------------------------------------------------------------------


def report_data(**overrides):
    return factories.complaint_data(
        kind="report", category="", description="采购经理收受供应商回扣。", demands="", **overrides
    )


def test_anonymous_report_is_refused_when_the_rules_do_not_allow_it(org):
    assert register_case(actor=org.intake, data=report_data(is_anonymous=True, customer={})).case.is_anonymous
    doc = copy.deepcopy(Policy.objects.get(is_active=True).document)
    doc["whistleblowing"]["anonymous_allowed"] = False
    activate_document(doc)
    with pytest.raises(Invalid) as exc:
        register_case(actor=org.intake, data=report_data(is_anonymous=True, customer={}))
    assert exc.value.details["is_anonymous"] == "本公司规则不受理匿名举报，请留下姓名和联系方式"
    # A named report is still taken.
    assert register_case(actor=org.intake, data=report_data()).case.kind == "report"


def test_report_extension_needs_the_general_manager_and_ends_60_days_after_receipt(org):
    # 003 举报: 30 working days; a complex case extended with the general manager's approval, never
    # beyond 60 days from receipt (the 20-working-day total for complaints would forbid any extension).
    chief = factories.person("risk_chief", org.risk_dept, roles.RISK, roles.GENERAL_MANAGER)
    officer = factories.person("risk_officer", org.risk_dept, roles.RISK, roles.SUPERVISOR)
    now = at("2026-11-23 09:00")
    case = register_case(actor=org.intake, data=report_data(received_at=now.isoformat()), now=now).case
    perform(case, "accept", org.risk, now=at("2026-11-23 09:30"))
    perform(case, "assign", org.risk, now=at("2026-11-23 09:40"), department="RISK", handler=org.risk.pk)
    answer = stage(case, "answer")
    assert (answer.amount, answer.unit) == (30, "working_days")
    when = at("2026-11-24 09:00")
    with pytest.raises(Forbidden):
        perform(case, "extend_deadline", officer, now=when, days=5, reason="涉及多家供应商，需要调取账目")
    with pytest.raises(Invalid) as exc:
        perform(case, "extend_deadline", chief, now=when, days=30, reason="涉及多家供应商，需要调取账目")
    assert exc.value.code == "extension_limit" and "2027-01-22" in exc.value.details["days"]
    perform(case, "extend_deadline", chief, now=when, days=5, reason="涉及多家供应商，需要调取账目")
    answer.refresh_from_db()
    assert answer.extension_days == 5 and answer.due_at <= at("2027-01-22 23:59:59")
