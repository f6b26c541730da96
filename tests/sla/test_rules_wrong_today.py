"""The "wrong today" rules of the issue "The rules as written", walked through `perform`: penalties only
for valid, verified complaints (and the PR-cost fine), whistle-blowing about senior management, the
follow-up window, hotel grading by fault, and the insurance panel and collaboration approvals."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from django.core.management import call_command

from kesu.calendar.workcalendar import format_instant
from kesu.cases.models import Accountability
from kesu.cases.permissions import can_view, visible_cases
from kesu.cases.services import perform, register_case
from kesu.errors import Conflict, Forbidden, Invalid
from kesu.org import roles
from kesu.policy.selectors import active_policy, rules_for
from kesu.sla.models import Notification, StageDeadline
from tests import factories

from .helpers import at, register

pytestmark = pytest.mark.django_db


def dispatch(org, case, when: str, *, department: str = "QUALITY", handler=None) -> None:
    perform(case, "accept", org.intake, now=at(when))
    perform(
        case, "assign", org.intake, now=at(when), department=department, handler=(handler or org.handler).pk
    )


# --- 1. penalties: valid, verified complaints only ------------------------------------------------------


def penalty_rows(tmp_path, *extra: str) -> dict[str, dict[str, str]]:
    out = tmp_path / "p.csv"
    call_command("sla", "penalties", "--month", "2026-11", "--out", str(out), *extra, stdout=io.StringIO())
    return {r["工号"]: r for r in csv.DictReader(out.open(encoding="utf-8-sig"))}


def test_a_penalty_proposed_at_assignment_is_withdrawn_when_the_case_is_judged_invalid(org, tmp_path):
    case = register(org, "2026-11-23 09:00", flags=["injury"])  # major: 100 / 50 once a handler owns it
    dispatch(org, case, "2026-11-23 09:10")
    record = Accountability.objects.get(case=case, reason="graded")
    assert record.state == "proposed" and record.person_amount == 100
    # The supervisor's penalty list counts confirmed penalties; the proposal only when asked for.
    assert penalty_rows(tmp_path) == {}
    assert penalty_rows(tmp_path, "--proposed")["handler"]["罚款合计（元）"] == "100.00"

    event = perform(case, "mark_invalid", org.handler, now=at("2026-11-23 10:00"), reason="not_specific")
    record.refresh_from_db()
    assert record.state == "withdrawn" and record.decided_by == org.handler
    assert record.decision_reason == "判定无效：not_specific"
    assert event.payload["withdrawn_accountabilities"] == [record.pk]
    # Nobody is fined for it, not even among the proposals, and it can no longer be confirmed.
    assert penalty_rows(tmp_path, "--proposed") == {}
    with pytest.raises(Exception) as exc:
        perform(case, "confirm_accountability", org.supervisor, accountability_id=record.pk)
    assert exc.value.code == "already_decided"
    with pytest.raises(Exception) as exc:
        perform(case, "propose_accountability", org.supervisor, person=org.handler.pk, reason="manual")
    assert exc.value.code == "invalid_complaint"


def test_confirmed_penalties_are_counted_and_an_internet_case_may_be_fined_ten_percent_of_the_pr_cost(
    tmp_path,
):
    o = factories.org("insurance")
    case = register(o, "2026-11-23 09:00", channel="internet", category="claims.delay")
    dispatch(o, case, "2026-11-23 09:10", department="CLAIMS", handler=o.claims_handler)
    record = Accountability.objects.get(case=case, reason="graded")
    assert (record.person_amount, record.supervisor_amount) == (200, 200)
    # 000 第2篇 第九条二3: the company had to start PR work costing 12,345.60 → 10% each.
    perform(
        case,
        "confirm_accountability",
        o.supervisor,
        now=at("2026-11-24 09:00"),
        accountability_id=record.pk,
        pr_cost="12345.60",
        reason="经调查属实，启动公关",
    )
    record.refresh_from_db()
    assert record.state == "confirmed" and record.pr_cost == Decimal("12345.60")
    assert (record.person_amount, record.supervisor_amount) == (Decimal("1234.56"), Decimal("1234.56"))
    rows = penalty_rows(tmp_path)
    assert rows["claims_handler"]["罚款合计（元）"] == "1234.56"
    assert rows["claims_head"]["罚款合计（元）"] == "1234.56"


def test_a_pr_cost_is_refused_where_the_rule_fines_none(org):
    case = register(org, "2026-11-23 09:00", flags=["injury"])
    dispatch(org, case, "2026-11-23 09:10")
    record = Accountability.objects.get(case=case, reason="graded")
    with pytest.raises(Invalid) as exc:
        perform(case, "confirm_accountability", org.supervisor, accountability_id=record.pk, pr_cost="1000")
    assert "pr_cost" in exc.value.details
    record.refresh_from_db()
    assert record.state == "proposed" and record.person_amount == 100


# --- 4. hotel grading follows the hotel's fault ---------------------------------------------------------


def test_a_hotel_complaints_level_follows_the_hotels_fault_not_its_repeats():
    o = factories.org("hotel")
    guest = {"name": "王先生", "phone": "13900001111"}
    first = register(o, "2026-11-20 09:00", category="room.cleanliness", customer=guest)
    again = register(o, "2026-11-23 09:00", category="room.cleanliness", customer=guest)
    third = register(o, "2026-11-24 09:00", category="room.cleanliness", customer=guest)
    # Complaining again does not make it a 一般 or 重大投诉 (the general rules would: urgent, then major).
    assert (first.level, again.repeat_count, again.level, third.repeat_count) == ("normal", 2, "normal", 3)
    assert third.level == "normal"
    # The lobby manager judges the hotel's fault at acceptance: 重大 makes it a major complaint.
    event = perform(third, "accept", o.intake, now=at("2026-11-24 09:30"), fault_level="major")
    third.refresh_from_db()
    assert third.level == "major" and third.fault_level == "major"
    assert event.payload["level_reasons"] == [
        {"rule": "fault", "level": "major", "detail": "过错程度：重大投诉", "params": {"fault": "major"}}
    ]
    perform(again, "accept", o.intake, now=at("2026-11-24 09:30"), fault_level="normal")
    again.refresh_from_db()
    assert again.level == "normal"
    with pytest.raises(Invalid) as exc:
        perform(first, "accept", o.intake, fault_level="crisis")
    assert "fault_level" in exc.value.details


def test_outside_the_hotel_preset_repeats_still_grade_and_no_fault_is_taken(org):
    guest = {"name": "李女士", "phone": "13900002222"}
    register(org, "2026-11-20 09:00", customer=guest)
    again = register(org, "2026-11-23 09:00", customer=guest)
    assert again.level == "urgent"
    with pytest.raises(Invalid) as exc:
        perform(again, "accept", org.intake, fault_level="major")
    assert "fault_level" in exc.value.details


# --- 2. whistle-blowing about senior management; the outcomes of a report -------------------------------


def report(org, when: str, **overrides):
    data = factories.complaint_data(
        kind="report",
        category="",
        description="分管副总经理要求供应商支付回扣。",
        demands="",
        received_at=at(when).isoformat(),
        **overrides,
    )
    return register_case(actor=org.intake, data=data, now=at(when)).case


def test_a_report_about_senior_management_goes_to_the_chairman(org):
    chairman = factories.person("chairman", org.hq, roles.CHAIRMAN)
    case = report(org, "2026-11-23 09:00", flags=["senior_management"])
    assert case.flag_senior_management and case.report_recipient_role == "chairman"
    assert case.events.get(seq=1).payload["recipient_role"] == "chairman"
    # The chairman is told and may read it; the general manager (senior management himself) may not.
    notice = Notification.objects.get(user=chairman, case=case)
    assert notice.kind == "report.senior_management" and case.number in notice.title
    assert can_view(chairman, case) and list(visible_cases(chairman)) == [case]
    assert not can_view(org.gm, case) and not visible_cases(org.gm).exists()
    # Risk/compliance still investigates; the chairman reads but does not handle it.
    perform(case, "accept", org.risk, now=at("2026-11-23 09:30"))
    with pytest.raises(Forbidden):
        perform(case, "add_note", chairman, text="请尽快调查")
    # An ordinary report is not routed to the chairman.
    other = report(org, "2026-11-23 10:00")
    assert not can_view(chairman, other) and other.report_recipient_role == ""


def test_the_flag_may_be_set_at_acceptance_and_only_on_reports(org):
    chairman = factories.person("chairman", org.hq, roles.CHAIRMAN)
    case = report(org, "2026-11-23 09:00")
    event = perform(case, "accept", org.risk, now=at("2026-11-23 09:30"), senior_management=True)
    assert event.payload["recipient_role"] == "chairman"
    assert Notification.objects.filter(user=chairman, case=case).count() == 1
    assert can_view(chairman, case)
    with pytest.raises(Invalid) as exc:
        register_case(actor=org.intake, data=factories.complaint_data(flags=["senior_management"]))
    assert "flags" in exc.value.details


@pytest.mark.parametrize("criterion", ["judiciary", "false_accusation"])
def test_a_report_may_end_handed_to_the_judiciary_or_as_a_false_accusation(org, criterion):
    case = report(org, "2026-11-23 09:00")
    perform(case, "accept", org.risk, now=at("2026-11-23 09:30"))
    perform(case, "assign", org.risk, now=at("2026-11-23 09:40"), department="RISK", handler=org.risk.pk)
    perform(case, "start_investigation", org.risk, now=at("2026-11-23 10:00"))
    perform(
        case,
        "propose_remedy",
        org.risk,
        now=at("2026-11-24 10:00"),
        remedy_type="explanation",
        description="调查结论",
    )
    perform(case, "reply", org.risk, now=at("2026-11-24 11:00"), text="调查已完成。")
    perform(case, "close", org.risk, now=at("2026-11-24 12:00"), criterion=criterion)
    case.refresh_from_db()
    assert case.status == "closed" and case.closing_criterion == criterion
    # A complaint cannot end that way.
    rules = rules_for(active_policy())
    assert criterion in rules.manual_closing_criteria("report")
    assert criterion not in rules.manual_closing_criteria("complaint")


# --- 3. the follow-up visit: day 5 to day 7 after closing -----------------------------------------------


def closed(o, when: str, *, department: str = "QUALITY", handler=None, category: str | None = None):
    """A complaint accepted, answered and closed at `when` (a Monday in the tests)."""
    handler = handler or o.handler
    case = register(o, when, **({"category": category} if category else {}))
    dispatch(o, case, when, department=department, handler=handler)
    perform(case, "start_investigation", handler, now=at(when), contacted_customer=True)
    perform(case, "propose_remedy", handler, now=at(when), remedy_type="explanation", description="说明")
    perform(case, "reply", handler, now=at(when), text="已向客户说明。")
    perform(case, "close", handler, now=at(when), criterion="accepted")
    return case


@pytest.mark.parametrize(
    "preset,department,category",
    [
        ("general", "QUALITY", None),
        ("insurance", "CLAIMS", "claims.delay"),
        ("hotel", "QUALITY", "room.noise"),
    ],
)
def test_the_follow_up_is_made_on_day_5_to_7_after_closing(preset, department, category):
    o = factories.org(preset)
    handler = o.claims_handler if department == "CLAIMS" else o.handler
    case = closed(o, "2026-11-23 10:00", department=department, handler=handler, category=category)
    stage = StageDeadline.objects.get(case=case, stage="follow_up")
    # The deadline is the window's last day (the insurance preset's 3 days made a day-5 visit late).
    assert format_instant(stage.due_at) == "2026-11-30T23:59:59+08:00"
    with pytest.raises(Conflict) as exc:
        perform(case, "follow_up", o.followup, now=at("2026-11-23 10:25"), score=5)
    assert exc.value.code == "follow_up_too_early"
    assert str(exc.value) == "回访须在结案后第 5 天至第 7 天进行，最早可于 2026-11-28 回访"
    with pytest.raises(Conflict):
        perform(case, "follow_up", o.followup, now=at("2026-11-27 23:59"), score=5)
    perform(case, "follow_up", o.followup, now=at("2026-11-28 10:00"), score=5)
    stage.refresh_from_db()
    assert stage.state == "met" and not stage.is_breached


def test_the_follow_up_queue_shows_from_when_each_case_is_due(client, org):
    case = closed(org, "2026-11-23 10:00")
    client.force_login(org.followup)
    html = client.get("/queues/follow-ups/").content.decode()
    row = html[html.index(f'data-case="{case.number}"') :]
    row = row[: row.index("</tr>")]
    assert "2026-11-28 起可回访" in row and "due-none" not in row
