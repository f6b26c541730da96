"""The presets for the remaining seed industries, each loaded with `kesu policy load` and walked through
`perform`: bank (002, JR/T 0169-2018 axes), tobacco (003 大荔烟草), IT (001 篇5) and fishery (004)."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from kesu.calendar.workcalendar import format_instant
from kesu.cases.models import Accountability
from kesu.cases.services import perform, register_case
from kesu.policy.loader import resolve_preset
from kesu.policy.models import Policy
from kesu.policy.rules import Rules
from kesu.sla.models import StageDeadline
from tests import factories
from tests.sla.helpers import at

pytestmark = pytest.mark.django_db

INDUSTRIES = ["bank", "tobacco", "it_service", "fishery"]


def load(code: str):
    """The organisation of the factories, then the preset loaded through the CLI as an operator would."""
    o = factories.org(code)
    out = StringIO()
    call_command("policy", "load", code, stdout=out)
    assert Policy.objects.get(is_active=True).code == code and "loaded" in out.getvalue()
    return o


def register(o, when: str, **data):
    now = at(when)
    return register_case(
        actor=o.intake, data=factories.complaint_data(received_at=now.isoformat(), **data), now=now
    ).case


def stage(case, name: str) -> StageDeadline:
    return StageDeadline.objects.get(case=case, stage=name)


def give_answer(o, case, when: str, text: str) -> None:
    """An explanation (no approval needed) and the reply to the customer."""
    perform(case, "propose_remedy", o.handler, now=at(when), remedy_type="explanation", description=text)
    perform(case, "reply", o.handler, now=at(when), text=text, method="phone")


def dispatch(o, case, when: str) -> None:
    perform(case, "accept", o.intake, now=at(when))
    perform(case, "assign", o.intake, now=at(when), department="QUALITY", handler=o.handler.pk)


@pytest.mark.parametrize("code", INDUSTRIES)
def test_each_industry_preset_states_its_seed_clocks_and_penalties(code):
    doc = resolve_preset(code)
    lines = StringIO()
    call_command("policy", "show", code, "--explain", stdout=lines)
    text = lines.getvalue()
    own = [r for r in doc["sla"]["rules"] if r["source"] == code]
    assert own, code  # each states at least one deadline of its own
    for rule in own:
        assert rule["seed"] in text and rule["unit"] in {
            "calendar_hours",
            "calendar_days",
            "working_days",
        }
    # Its own penalty table with its seed (none of these seeds sets an amount).
    assert doc["penalties"]["seed"] in text and "不罚款，只提醒" in text
    assert set(doc["penalties"]) == {"seed"}


def test_bank_answers_within_15_calendar_days_and_codes_three_axes():
    o = load("bank")
    rules = Rules(Policy.objects.get(is_active=True).document)
    assert rules.classification_axes == ["channel", "business_type", "cause"]
    assert {"bank.deposit", "bank.loan", "bank.credit_card", "bank.personal_info"} <= set(
        rules.business_types
    )
    case = register(
        o, "2026-11-23 10:00", channel="counter", category="cause.pricing", business_type="bank.credit_card"
    )  # a Monday
    assert (case.channel.code, case.business_type, case.category.code) == (
        "counter",
        "bank.credit_card",
        "cause.pricing",
    )
    answer = stage(case, "answer")
    # 002 sets no time; the bank follows 银保监会令2020年第3号 第十九条: 15 calendar days from receipt.
    assert (answer.amount, answer.unit) == (15, "calendar_days")
    assert format_instant(answer.due_at) == "2026-12-08T23:59:59+08:00"
    dispatch(o, case, "2026-11-23 10:30")
    assert case.department.code == "QUALITY"
    perform(case, "start_investigation", o.handler, now=at("2026-11-23 11:00"), contacted_customer=True)
    give_answer(o, case, "2026-12-07 16:00", "已退还多收的年费。")
    answer.refresh_from_db()
    assert answer.state == "met" and not answer.is_breached


def test_bank_major_complaint_is_graded_without_a_fine():
    o = load("bank")
    case = register(o, "2026-11-23 10:00", channel="regulator_local", category="cause.funds_safety")
    assert case.level == "crisis"
    dispatch(o, case, "2026-11-23 10:10")
    record = Accountability.objects.get(case=case, reason="graded")
    assert (record.person_amount, record.supervisor_amount, record.reminder) == (0, 0, True)


def test_tobacco_consultation_in_one_working_day_complaint_in_two():
    o = load("tobacco")
    # A Friday: the working days skip the weekend.
    question = register(
        o, "2026-11-27 10:00", channel="city_dispatch", kind="consultation", category="monopoly"
    )
    assert (stage(question, "answer").amount, stage(question, "answer").unit) == (1, "working_days")
    assert format_instant(stage(question, "answer").due_at) == "2026-11-30T23:59:59+08:00"
    complaint = register(o, "2026-11-27 10:00", channel="city_dispatch", category="logistics.damage")
    answer = stage(complaint, "answer")
    assert (answer.amount, answer.unit) == (2, "working_days")
    assert format_instant(answer.due_at) == "2026-12-01T23:59:59+08:00"
    dispatch(o, complaint, "2026-11-27 10:20")
    perform(complaint, "start_investigation", o.handler, now=at("2026-11-27 11:00"), contacted_customer=True)
    # Tuesday afternoon is still within the two working days; Wednesday would be late.
    give_answer(o, complaint, "2026-12-01 15:00", "已补送损坏的卷烟。")
    answer.refresh_from_db()
    assert answer.state == "met" and not answer.is_breached


def test_it_direct_complaint_is_handled_first_and_answered_in_three_working_days():
    o = load("it_service")
    rules = Rules(Policy.objects.get(is_active=True).document)
    assert rules.enabled_kinds == ["complaint", "suggestion", "consultation"]
    assert rules.level_label("normal") == "正常投诉"
    normal = register(o, "2026-11-23 10:00", channel="ticket", category="system")
    direct = register(o, "2026-11-23 10:00", channel="ticket", category="system", flags=["direct"])
    assert (normal.level, direct.level) == ("normal", "urgent")
    answer = stage(direct, "answer")
    assert (answer.amount, answer.unit) == (3, "working_days")
    assert format_instant(answer.due_at) == "2026-11-26T23:59:59+08:00"


def test_fishery_hands_over_within_one_hour_and_starts_the_analysis_within_24():
    o = load("fishery")
    case = register(o, "2026-11-27 17:00", channel="on_site", category="product_quality")
    perform(case, "accept", o.intake, now=at("2026-11-27 17:20"))
    handover = stage(case, "handover")
    # 四1: one clock hour from receipt (not 30 minutes from acceptance, not working hours).
    assert (handover.amount, handover.unit) == (1, "calendar_hours")
    assert format_instant(handover.due_at) == "2026-11-27T18:00:00+08:00"
    perform(case, "assign", o.intake, now=at("2026-11-27 18:30"), department="QUALITY", handler=o.handler.pk)
    handover.refresh_from_db()
    assert handover.state == "met" and handover.is_breached  # 18:30 is half an hour late
    analysis = stage(case, "analysis")
    # 四2: the analysis starts within 24 clock hours of the hand-over, over the weekend too.
    assert (analysis.amount, analysis.unit) == (24, "calendar_hours")
    assert format_instant(analysis.due_at) == "2026-11-28T18:30:00+08:00"
    perform(case, "start_investigation", o.handler, now=at("2026-11-28 09:00"), contacted_customer=True)
    analysis.refresh_from_db()
    assert analysis.state == "met" and not analysis.is_breached
