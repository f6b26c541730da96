"""The "wrong today" rules of the issue "The rules as written", walked through `perform`: penalties only
for valid, verified complaints (and the PR-cost fine), whistle-blowing about senior management, the
follow-up window, hotel grading by fault, and the insurance panel and collaboration approvals."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from django.core.management import call_command

from kesu.cases.models import Accountability
from kesu.cases.services import perform
from kesu.errors import Invalid
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
        {"rule": "fault", "level": "major", "detail": "过错程度：重大投诉"}
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
