"""The regulator layers acting on cases (kesu.cases.regulator): NFRA on the insurance preset, MIIT on the
telecom preset, SAMR 12315 on the auto dealer — each walked through register_case / perform, checking
what the complainant (portal timeline), the handler (refusals) and the supervisor (deadlines) see."""

from __future__ import annotations

import datetime as dt

import pytest

from kesu.calendar.workcalendar import format_instant
from kesu.cases import regulator
from kesu.cases.models import Case, CaseEvent
from kesu.cases.services import perform, register_case
from kesu.errors import Conflict, Forbidden, Invalid
from kesu.policy.selectors import active_policy, rules_for
from kesu.policy.services import load_preset
from kesu.sla.models import StageDeadline
from kesu.web.portal import _public_timeline
from tests import factories

from . import helpers as sla_helpers
from .helpers import at, register

pytestmark = pytest.mark.django_db


@pytest.fixture
def nfra():
    return factories.org("insurance", ["nfra"])


def answer(case) -> StageDeadline:
    return StageDeadline.objects.filter(case=case, stage="answer", state="open").get()


def to_investigation(o, case, when: str, handler=None):
    t = at(when)
    perform(case, "accept", o.intake, now=t, category="claims.delay")
    perform(case, "assign", o.intake, now=t, department="CLAIMS", handler=(handler or o.claims_handler).pk)
    perform(case, "start_investigation", o.claims_handler, now=t + dt.timedelta(minutes=5))


def portal(case) -> list[str]:
    return [f"{row['label']}|{row['detail']}" for row in _public_timeline(case)]


# --- NFRA: 15 calendar days, Civil Code end on a holiday ------------------------------------------------


def test_nfra_fifteen_calendar_days_end_after_national_day(nfra):
    # Received 16 September 2025: day 15 is 1 October (国庆), so the period runs to the end of the
    # next working day, 9 October — earlier than the insurer's 15 working days, so it binds.
    case = register(nfra, "2025-09-16 10:00", category="claims.delay")
    stage = answer(case)
    assert (stage.amount, stage.unit) == (15, "calendar_days")
    assert format_instant(stage.due_at) == "2025-10-09T23:59:59+08:00"
    case.refresh_from_db()
    assert case.due_at == stage.due_at


# --- NFRA: extension tiers, approval, notice to the complainant -----------------------------------------


def test_nfra_on_insurance_the_company_cap_binds_where_it_is_stricter(nfra):
    # insurance --with nfra: the preset follows the stricter rule (sla.extension.with_regulator): the
    # company's 20 working days from receipt (30 March) end before the NFRA 30 days (1 April).
    case = register(nfra, "2026-03-02 10:00", category="claims.delay")  # Monday
    to_investigation(nfra, case, "2026-03-02 11:00")
    assert format_instant(answer(case).due_at) == "2026-03-17T23:59:59+08:00"
    # 10 working days more would reach 31 March: within the NFRA tier, beyond the company's own cap.
    with pytest.raises(Invalid) as refused:
        perform(
            case,
            "extend_deadline",
            nfra.supervisor,
            now=at("2026-03-10 09:00"),
            days=10,
            reason="需调取监控录像",
        )
    assert refused.value.code == "extension_limit"
    assert "20 个工作日" in refused.value.message and "从严" in refused.value.message
    assert refused.value.details["days"] == "最迟可延至 2026-03-30T23:59:59+08:00"
    assert "000 第7篇 第十二条" in refused.value.details["rule"]
    # 9 days reach 30 March: both rules allow it (NFRA tier 1, a supervisor may), the complainant is told.
    event = perform(
        case, "extend_deadline", nfra.supervisor, now=at("2026-03-10 09:00"), days=9, reason="需调取监控录像"
    )
    assert event.is_public and event.payload["tier"] == 1
    assert event.payload["new_due"] == "2026-03-30T23:59:59+08:00"
    # Not even the general manager (who could approve the NFRA second tier) goes past the company's cap.
    with pytest.raises(Invalid) as still:
        perform(case, "extend_deadline", nfra.gm, now=at("2026-03-20 09:00"), days=1, reason="特别复杂")
    assert still.value.code == "extension_limit"
    shown = portal(case)
    assert any("2026-03-30" in row and "需调取监控录像" in row for row in shown)
    assert not any("特别复杂" in row for row in shown)


def test_nfra_on_general_the_30_and_60_day_tiers_apply_with_approval_and_notice():
    # general --with nfra: the general preset states no stricter-rule decision, so the NFRA tiers replace
    # its 20-working-day total: 30 days from receipt, 60 with the general manager's approval.
    o = factories.org("general", ["nfra"])
    case = register(o, "2026-03-02 10:00")  # Monday
    sla_helpers.to_investigation(o, case, "2026-03-02 11:00")
    assert answer(case).unit == "working_days"  # the company's 3 working days bind (earlier than 15 days)
    assert format_instant(answer(case).due_at) == "2026-03-05T23:59:59+08:00"
    # 15 working days more: 26 March, within 30 days of receipt — a supervisor may.
    event = perform(
        case, "extend_deadline", o.supervisor, now=at("2026-03-04 09:00"), days=15, reason="需调取监控录像"
    )
    assert event.is_public and event.payload["tier"] == 1
    assert event.payload["new_due"] == "2026-03-26T23:59:59+08:00"
    # Past 30 days (1 April) needs the higher institution (general manager): the supervisor is refused.
    with pytest.raises(Forbidden) as refused:
        perform(case, "extend_deadline", o.supervisor, now=at("2026-03-20 09:00"), days=10, reason="特别复杂")
    assert refused.value.code == "extension_approval"
    # The general manager may: 3 + 25 working days, more than the company's 20 — the NFRA tier applies.
    event = perform(case, "extend_deadline", o.gm, now=at("2026-03-20 09:00"), days=10, reason="需总公司审定")
    assert event.payload["tier"] == 2 and event.payload["approved_by_role"] == "general_manager"
    assert event.payload["new_due"] == "2026-04-10T23:59:59+08:00"
    # Never beyond 60 days from receipt.
    with pytest.raises(Invalid) as too_far:
        perform(case, "extend_deadline", o.gm, now=at("2026-03-25 09:00"), days=30, reason="再延")
    assert too_far.value.code == "extension_limit"
    shown = portal(case)
    assert any("2026-03-26" in row and "需调取监控录像" in row for row in shown)
    assert any("2026-04-10" in row and "需总公司审定" in row for row in shown)
    supervisor_view = StageDeadline.objects.get(case=case, stage="answer", state="open")
    assert format_instant(supervisor_view.due_at) == "2026-04-10T23:59:59+08:00"


def test_without_the_layer_extensions_are_capped_by_working_days():
    o = factories.org("insurance")
    case = register(o, "2026-03-02 10:00", category="claims.delay")
    to_investigation(o, case, "2026-03-02 11:00")
    event = perform(case, "extend_deadline", o.supervisor, now=at("2026-03-10 09:00"), days=5, reason="复杂")
    # The company rule tells the complainant of an answer extension too (000 第3篇); no NFRA tier applies.
    assert event.is_public and "tier" not in event.payload
    with pytest.raises(Invalid):
        perform(case, "extend_deadline", o.supervisor, now=at("2026-03-10 09:00"), days=10, reason="复杂")


# --- appraisal pauses the answer clock -------------------------------------------------------------------


def test_nfra_appraisal_pauses_the_answer_and_the_complainant_is_told(nfra):
    case = register(nfra, "2026-03-02 10:00", category="claims.delay")
    to_investigation(nfra, case, "2026-03-02 11:00")
    before = answer(case).due_at
    perform(
        case, "start_appraisal", nfra.claims_handler, now=at("2026-03-05 10:00"), reason="委托第三方定损鉴定"
    )
    stage = answer(case)
    assert stage.paused_at is not None
    case.refresh_from_db()
    assert case.due_at is None  # nothing running: the supervisor's queue shows no deadline
    with pytest.raises(Conflict):
        perform(case, "start_appraisal", nfra.claims_handler, now=at("2026-03-06 10:00"), reason="again")
    perform(case, "end_appraisal", nfra.claims_handler, now=at("2026-03-12 10:00"), result="鉴定报告已出")
    stage = answer(case)
    assert stage.paused_at is None
    assert stage.due_at == before + dt.timedelta(days=7)  # 5 → 12 March: seven days do not count
    shown = portal(case)
    assert any("委托第三方定损鉴定" in row for row in shown) and any("鉴定报告已出" in row for row in shown)


def test_appraisal_is_refused_where_no_rule_lets_it_pause():
    o = factories.org("insurance")
    case = register(o, "2026-03-02 10:00", category="claims.delay")
    to_investigation(o, case, "2026-03-02 11:00")
    with pytest.raises(Conflict) as refused:
        perform(case, "start_appraisal", o.claims_handler, now=at("2026-03-05 10:00"), reason="鉴定")
    assert refused.value.code == "appraisal_not_allowed"


# --- repeats merged and counted once; new facts restart the clock ---------------------------------------


def test_nfra_repeat_within_the_period_joins_the_open_case(nfra):
    first = register(
        nfra, "2026-03-02 10:00", category="claims.delay", customer={"name": "王五", "phone": "13900001111"}
    )
    before_due = answer(first).due_at
    again = register_case(
        actor=nfra.intake,
        data=factories.complaint_data(
            category="claims.delay",
            customer={"name": "王五", "phone": "13900001111"},
            received_at=at("2026-03-05 09:00").isoformat(),
            description="再次投诉理赔拖延",
        ),
        now=at("2026-03-05 09:00"),
    )
    assert again.merged and not again.created and again.case.pk == first.pk
    assert Case.objects.count() == 1  # counted once
    assert answer(first).due_at == before_due  # no new facts: the clock runs on
    # New facts restart the period from their receipt (6 March + 15 days = 21 March, a Saturday → 23 March).
    third = register_case(
        actor=nfra.intake,
        data=factories.complaint_data(
            category="claims.delay",
            customer={"name": "王五", "phone": "13900001111"},
            received_at=at("2026-03-06 09:00").isoformat(),
            description="补充新的事实：已提交全部单证",
            new_facts=True,
        ),
        now=at("2026-03-06 09:00"),
    )
    assert third.case.pk == first.pk
    assert format_instant(answer(first).due_at) == "2026-03-23T23:59:59+08:00"
    assert StageDeadline.objects.filter(case=first, stage="answer", state="cancelled").count() == 1
    assert sum("已并入本案" in row for row in portal(first)) == 2


def test_without_count_repeats_once_a_repeat_is_a_new_case():
    o = factories.org("insurance")
    customer = {"name": "王五", "phone": "13900001111"}
    first = register(o, "2026-03-02 10:00", category="claims.delay", customer=customer)
    second = register(o, "2026-03-05 09:00", category="claims.delay", customer=customer)
    assert second.pk != first.pk and second.repeat_of_id == first.pk


# --- recusal ---------------------------------------------------------------------------------------------


def test_nfra_the_person_complained_about_neither_handles_nor_approves(nfra):
    case = register(
        nfra, "2026-03-02 10:00", category="claims.delay", respondent_staff=nfra.claims_handler.username
    )
    perform(case, "accept", nfra.intake, now=at("2026-03-02 11:00"), category="claims.delay")
    with pytest.raises(Forbidden) as refused:
        perform(
            case,
            "assign",
            nfra.intake,
            now=at("2026-03-02 11:00"),
            department="CLAIMS",
            handler=nfra.claims_handler.pk,
        )
    assert refused.value.code == "recusal"
    # The supervisor complained about may not approve the remedy either.
    other = register(
        nfra, "2026-03-02 10:00", category="claims.delay", respondent_staff=nfra.supervisor.username
    )
    perform(other, "accept", nfra.intake, now=at("2026-03-02 11:00"), category="claims.delay")
    perform(
        other,
        "assign",
        nfra.intake,
        now=at("2026-03-02 11:00"),
        department="CLAIMS",
        handler=nfra.claims_handler.pk,
    )
    perform(other, "start_investigation", nfra.claims_handler, now=at("2026-03-02 12:00"))
    perform(
        other,
        "propose_remedy",
        nfra.claims_handler,
        now=at("2026-03-03 12:00"),
        remedy_type="compensation",
        amount="500",
        description="补偿",
    )
    with pytest.raises(Forbidden) as refused:
        perform(other, "approve", nfra.supervisor, now=at("2026-03-03 13:00"))
    assert refused.value.code == "recusal"
    perform(other, "approve", nfra.supervisor2, now=at("2026-03-03 13:00"))


# --- the decision names the remedies; 核查 is a stage ------------------------------------------------------


def test_nfra_reply_names_the_remedies_and_a_review_opens_a_30_day_stage(nfra):
    case = register(nfra, "2026-03-02 10:00", category="claims.delay")
    to_investigation(nfra, case, "2026-03-02 11:00")
    with pytest.raises(Invalid) as early:
        perform(case, "request_review", nfra.intake, now=at("2026-03-03 10:00"), reason="不服")
    assert early.value.code == "reply_required"
    perform(
        case,
        "propose_remedy",
        nfra.claims_handler,
        now=at("2026-03-05 10:00"),
        remedy_type="explanation",
        amount="0",
        description="解释",
    )
    event = perform(
        case, "reply", nfra.claims_handler, now=at("2026-03-06 10:00"), text="经核实，按条款赔付。"
    )
    assert "申请调解" in event.payload["further_remedies"]
    assert any("申请仲裁" in row and "提起诉讼" in row for row in portal(case))
    perform(case, "close", nfra.claims_handler, now=at("2026-03-06 11:00"), criterion="accepted")
    perform(
        case, "request_review", nfra.intake, now=at("2026-03-10 10:00"), reason="对处理决定有异议，申请核查"
    )
    # The follow-up of the closed case does not cancel the review owed after it.
    perform(case, "follow_up", nfra.followup, now=at("2026-03-11 10:00"), score=4, comment="尚可")
    review = StageDeadline.objects.get(case=case, stage="review")
    assert review.state == "open" and format_instant(review.due_at) == "2026-04-09T23:59:59+08:00"
    perform(case, "conclude_review", nfra.manager, now=at("2026-03-20 10:00"), conclusion="维持原处理决定")
    review.refresh_from_db()
    assert review.state == "met"
    assert any("维持原处理决定" in row for row in portal(case))


# --- MIIT: time bars and the appeal ---------------------------------------------------------------------


@pytest.fixture
def miit():
    return factories.org("telecom", ["miit_telecom"])


def test_miit_time_bars_refuse_out_of_time_complaints(miit):
    now = at("2026-06-10 10:00")
    with pytest.raises(Invalid) as fee:
        register_case(
            actor=miit.intake,
            data=factories.complaint_data(category="fee.package", occurred_on="2026-01-05"),
            now=now,
        )
    assert fee.value.code == "fee_time_barred" and "五个月" in fee.value.message
    # The same date is in time for a network complaint (2 years) …
    ok = register_case(
        actor=miit.intake,
        data=factories.complaint_data(category="network.mobile", occurred_on="2026-01-05"),
        now=now,
    ).case
    assert ok.occurred_on == dt.date(2026, 1, 5)
    # … but not one from more than 2 years ago.
    with pytest.raises(Invalid) as old:
        register_case(
            actor=miit.intake,
            data=factories.complaint_data(category="network.mobile", occurred_on="2024-06-09"),
            now=now,
        )
    assert old.value.code == "time_barred" and old.value.details == {"occurred_on": "早于 2024-06-10"}
    # Without the layer the date is recorded and nothing is refused.
    load_preset("telecom")
    register_case(
        actor=miit.intake,
        data=factories.complaint_data(category="fee.package", occurred_on="2020-01-05"),
        now=now,
    )


def test_miit_appeal_after_15_days_without_an_answer(miit):
    case = register(miit, "2026-06-01 10:00", category="network.mobile")
    with pytest.raises(Invalid) as early:
        perform(case, "request_review", miit.intake, now=at("2026-06-10 10:00"), reason="运营商未答复")
    assert early.value.code == "review_too_early"
    perform(
        case,
        "request_review",
        miit.intake,
        now=at("2026-06-17 10:00"),
        reason="运营商 15 日未答复，向申诉受理中心申诉",
    )
    review = StageDeadline.objects.get(case=case, stage="review")
    assert format_instant(review.due_at) == "2026-07-17T23:59:59+08:00"
    event = CaseEvent.objects.get(case=case, action="request_review")
    assert event.is_public and event.payload["review"] == "电信用户申诉"


# --- SAMR 12315: 3 years from knowing -----------------------------------------------------------------


def test_samr_three_years_from_knowing():
    o = factories.org("auto_dealer", ["samr_12315"])
    now = at("2026-06-10 10:00")
    with pytest.raises(Invalid) as barred:
        register_case(
            actor=o.intake,
            data=factories.complaint_data(channel="12315", category=None, known_on="2023-06-01"),
            now=now,
        )
    assert barred.value.code == "time_barred" and "三年" in barred.value.message
    case = register_case(
        actor=o.intake,
        data=factories.complaint_data(channel="12315", category=None, known_on="2024-06-01"),
        now=now,
    ).case
    assert case.known_on == dt.date(2024, 6, 1)
    # The layer lets appraisal pause the clock, the auto dealer's own rules do not.
    assert regulator.appraisal_allowed(rules_for(case.policy_id))
    load_preset("auto_dealer")
    assert not regulator.appraisal_allowed(rules_for(active_policy()))


def test_the_case_page_offers_the_appraisal_only_under_a_layer_that_has_it(nfra):
    from kesu.web.action_forms import forms_for

    case = register(nfra, "2026-03-02 10:00", category="claims.delay")
    to_investigation(nfra, case, "2026-03-02 11:00")
    assert "start_appraisal" in {f.action for f in forms_for(case, nfra.claims_handler)}
    load_preset("insurance")
    plain = register(nfra, "2026-03-02 10:00", category="claims.delay")
    to_investigation(nfra, plain, "2026-03-02 11:00")
    names = {f.action for f in forms_for(plain, nfra.claims_handler)}
    assert "start_appraisal" not in names and "request_review" not in names
