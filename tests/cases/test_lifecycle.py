"""One complaint through every path of the lifecycle; each timeline matches the actions taken."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from kesu.cases.models import (
    ApprovalStep,
    Case,
    CollaborationRequest,
    PanelReview,
    Proposal,
    Status,
)
from kesu.cases.selectors import counts_in_closing_rate, timeline
from kesu.cases.services import open_linked_case, perform, register_case
from kesu.cases.walk import Cast, walk_to
from kesu.errors import Conflict
from tests import factories
from tests.cases.helpers import Walk, snapshot

pytestmark = pytest.mark.django_db


def investigating(o, **overrides) -> Walk:
    walk = Walk(factories.make_case(o.intake, **overrides))
    walk_to(walk, Status.INVESTIGATING, Cast(intake=o.intake, handler=o.handler))
    return walk


def test_major_complaint_through_every_step(org):
    o = org
    case = factories.make_case(o.intake, flags=["injury"], claimed_amount="3000")
    assert (case.status, case.level, case.first_responder) == (Status.REGISTERED, "major", o.intake)
    walk = Walk(case)
    walk("accept", o.intake, expect=Status.ACCEPTED)
    # 谁主管谁负责: product.defect belongs to the quality department.
    walk("assign", o.intake, handler=o.handler.pk, expect=Status.ASSIGNED)
    assert case.department.code == "QUALITY" and case.handler == o.handler
    walk("start_investigation", o.handler, contacted_customer=True, expect=Status.INVESTIGATING)

    # 协办: the finance department answers the handler's question.
    walk(
        "request_collaboration",
        o.handler,
        department="FINANCE",
        question="请核实该客户的付款记录",
        expect=Status.INVESTIGATING,
    )
    request = CollaborationRequest.objects.get(case=case)
    walk(
        "answer_collaboration",
        o.finance_handler,
        request_id=request.pk,
        answer="已于 11 月 2 日全额付款",
        expect=Status.INVESTIGATING,
    )
    request.refresh_from_db()
    assert (request.state, request.answered_by, request.to_department.code) == (
        "answered",
        o.finance_handler,
        "FINANCE",
    )

    # 合议: a major case needs the panel's decision, confirmed by every participant, before a remedy.
    with pytest.raises(Conflict) as exc:
        perform(
            case,
            "propose_remedy",
            o.handler,
            expected_version=case.version,
            remedy_type="compensation",
            amount="1500",
            description="赔偿",
        )
    assert exc.value.code == "panel_required"
    walk(
        "convene_panel",
        o.handler,
        topic="热水器漏水致人受伤的赔偿",
        participants=[o.quality_head.pk, o.handler2.pk],
        expect=Status.INVESTIGATING,
    )
    review = PanelReview.objects.get(case=case)
    walk(
        "decide_panel",
        o.quality_head,
        review_id=review.pk,
        minutes="经合议，产品存在缺陷。",
        decision="赔偿 1500 元并更换新机",
        expect=Status.INVESTIGATING,
    )
    walk("confirm_panel", o.quality_head, review_id=review.pk, expect=Status.INVESTIGATING)
    with pytest.raises(Conflict) as exc:
        perform(
            case,
            "propose_remedy",
            o.handler,
            expected_version=case.version,
            remedy_type="compensation",
            amount="1500",
            description="赔偿",
        )
    assert exc.value.code == "panel_required"  # one participant has not confirmed yet
    walk("confirm_panel", o.handler2, review_id=review.pk, opinion="同意", expect=Status.INVESTIGATING)
    review.refresh_from_db()
    assert review.state == PanelReview.State.CONFIRMED

    # Two-step approval: 1,500 fits the supervisor's tier; compensation in a major case also needs the GM.
    walk(
        "propose_remedy",
        o.handler,
        remedy_type="compensation",
        amount="1500",
        description="赔偿 1500 元并更换新机",
        expect=Status.PENDING_APPROVAL,
    )
    proposal = Proposal.objects.get(case=case)
    assert proposal.required_roles == ["supervisor", "general_manager"]
    walk("approve", o.supervisor, comment="同意", expect=Status.PENDING_APPROVAL)
    walk("approve", o.gm, comment="同意", expect=Status.RESPONDING)
    proposal.refresh_from_db()
    assert proposal.state == Proposal.State.APPROVED
    assert list(proposal.steps.values_list("step", "role", "approver", "decision")) == [
        (1, "supervisor", o.supervisor.pk, "approved"),
        (2, "general_manager", o.gm.pk, "approved"),
    ]

    walk("reply", o.handler, text="已为您安排赔偿 1500 元并更换新机。", expect=Status.RESPONDING)
    walk("close", o.handler, criterion="accepted", expect=Status.CLOSED)
    assert case.closing_criterion == "accepted" and case.closed_at is not None

    # 回访 unsatisfied → the case is reopened (within the window).
    walk("follow_up", o.followup, score=2, comment="新机还没送到", expect=Status.INVESTIGATING)
    assert case.reopen_count == 1 and case.closed_at is None and case.replied_at is None
    walk(
        "propose_remedy",
        o.handler,
        remedy_type="explanation",
        amount="0",
        description="催促物流并说明送达时间",
        expect=Status.RESPONDING,
    )
    walk("reply", o.handler, text="新机已于今日送达。", expect=Status.RESPONDING)
    walk("close", o.handler, criterion="accepted", expect=Status.CLOSED)
    walk("follow_up", o.followup, score=5, expect=Status.CLOSED)
    walk("archive", o.archivist, expect=Status.ARCHIVED)

    walk.assert_timeline()
    case.refresh_from_db()
    assert (case.status, case.satisfaction, case.reopen_count) == (Status.ARCHIVED, 5, 1)
    assert case.follow_ups.count() == 2 and case.archived_at is not None
    # Every actor is on the timeline, in order.
    actors = list(timeline(case).values_list("actor__username", flat=True))
    assert actors[:4] == ["intake", "intake", "intake", "handler"] and actors[-1] == "archivist"


def test_invalid_complaint(org):
    o = org
    walk = Walk(factories.make_case(o.intake))
    walk("mark_invalid", o.intake, reason="not_specific", note="无法核实", expect=Status.INVALID)
    walk("archive", o.archivist, expect=Status.ARCHIVED)
    walk.assert_timeline()
    assert (walk.case.is_valid, walk.case.invalid_reason) == (False, "not_specific")


def test_consultation_answered_at_first_contact(org):
    o = org
    case = factories.make_case(o.intake, kind="consultation", category=None, description="请问保修期多长？")
    walk = Walk(case)
    walk("answer_first_contact", o.intake, answer="整机保修三年。", expect=Status.ANSWERED)
    walk.assert_timeline()
    assert case.closing_criterion == "answered" and case.replied_at is not None


def test_suspended_then_resumed(org):
    o = org
    walk = investigating(o)
    walk("suspend", o.handler, reason="客户出国，暂无法联系", expect=Status.SUSPENDED)
    walk("resume", o.handler, note="客户回国", expect=Status.INVESTIGATING)
    walk.assert_timeline()
    assert walk.case.status_before_suspension == "" and walk.case.suspended_at is None


def test_suspended_then_expired_three_months_after_the_last_contact(org):
    o = org
    t0 = timezone.now()
    case = register_case(actor=o.intake, data=factories.complaint_data(), now=t0).case
    walk = Walk(case)
    steps = [
        ("accept", o.intake, {}),
        ("assign", o.intake, {"handler": o.handler.pk}),
        ("start_investigation", o.handler, {}),
    ]
    for action, actor, data in steps:
        walk(action, actor, now=t0, **data)
    # The last contact is a month after the suspension; the three months count from it (003).
    walk("add_note", o.handler, text="电话联系客户", contacted_customer=True, now=t0 + dt.timedelta(days=1))
    walk(
        "suspend",
        o.handler,
        reason="等待客户提供材料",
        now=t0 + dt.timedelta(days=2),
        expect=Status.SUSPENDED,
    )
    walk(
        "add_note",
        o.handler,
        text="客户来电说明仍在准备",
        contacted_customer=True,
        now=t0 + dt.timedelta(days=30),
    )
    last_contact = case.last_contact_at
    assert last_contact == t0 + dt.timedelta(days=30)

    before = snapshot()
    with pytest.raises(Conflict) as exc:
        perform(
            case,
            "expire_suspension",
            None,
            expected_version=case.version,
            now=last_contact + dt.timedelta(days=85),
        )
    assert exc.value.code == "suspension_not_expired"
    assert snapshot() == before

    walk("expire_suspension", None, now=last_contact + dt.timedelta(days=93), expect=Status.CLOSED)
    walk.assert_timeline()
    assert case.closing_criterion == "suspension_expired"

    # Contact after that opens a new, linked case; the old one cannot be reopened.
    with pytest.raises(Conflict) as exc:
        perform(case, "reopen", o.supervisor, expected_version=case.version, reason="客户再次来电")
    assert exc.value.code == "reopen_window_passed"
    new = open_linked_case(case, o.intake, reason="客户再次来电要求处理").case
    assert new.reopened_from == case and new.number != case.number and new.status == Status.REGISTERED
    assert new.customer_id == case.customer_id and new.repeat_of == case
    assert new.events.get().payload["reopened_from"] == case.number
    walk.expected.append((len(walk.expected) + 1, "link_continuation", "closed", "closed"))
    walk.assert_timeline()


def test_special_closure_needs_approval_and_is_left_out_of_the_closing_rate(org):
    o = org
    walk = investigating(o)
    walk(
        "request_special_closure",
        o.handler,
        reason="诉求远超实际损失，多次以投诉谋利",
        expect=Status.PENDING_APPROVAL,
    )
    walk("approve", o.supervisor, expect=Status.PENDING_APPROVAL)
    walk("approve", o.manager, expect=Status.CLOSED)
    walk.assert_timeline()
    case = walk.case
    assert case.is_special_closure and case.closing_criterion == "special"
    normal = investigating(o)
    normal("propose_remedy", o.handler, remedy_type="explanation", amount="0", description="解释说明")
    normal("reply", o.handler, text="已解释")
    normal("close", o.handler, criterion="lawful", expect=Status.CLOSED)
    closed = Case.objects.filter(status=Status.CLOSED)
    assert set(closed) == {case, normal.case}  # both count in volume
    assert list(counts_in_closing_rate(closed)) == [normal.case]
    # A special closure needs no follow-up before archiving.
    walk("archive", o.archivist, expect=Status.ARCHIVED)


def test_rejected_proposal_goes_back_to_investigation(org):
    o = org
    walk = investigating(o)
    walk(
        "propose_remedy",
        o.handler,
        remedy_type="refund",
        amount="5000",
        description="退款",
        expect=Status.PENDING_APPROVAL,
    )
    walk("approve", o.supervisor, expect=Status.PENDING_APPROVAL)
    walk("reject", o.manager, comment="金额过高", expect=Status.INVESTIGATING)
    walk.assert_timeline()
    proposal = Proposal.objects.get(case=walk.case)
    assert proposal.state == "rejected"
    assert list(ApprovalStep.objects.filter(proposal=proposal).values_list("decision", flat=True)) == [
        "approved",
        "rejected",
    ]


def test_unsatisfied_follow_up_after_the_window_opens_a_linked_case(org):
    o = org
    t0 = timezone.now()
    case = register_case(actor=o.intake, data=factories.complaint_data(), now=t0).case
    walk = Walk(case)
    walk("accept", o.intake, now=t0)
    walk("assign", o.intake, handler=o.handler.pk, now=t0)
    walk("start_investigation", o.handler, now=t0)
    walk("propose_remedy", o.handler, remedy_type="explanation", amount="0", description="说明", now=t0)
    walk("reply", o.handler, text="已答复", now=t0)
    walk("close", o.handler, criterion="accepted", now=t0)
    late = t0 + dt.timedelta(days=120)
    walk("follow_up", o.followup, score=1, comment="问题依旧", now=late, expect=Status.CLOSED)
    walk.assert_timeline()
    follow_event = case.events.order_by("-seq").first()
    continuation = Case.objects.get(reopened_from=case)
    assert follow_event.payload["continuation"] == continuation.number
    assert follow_event.payload["reopened"] is False
    # The matter continues in the new case, so the old one can be archived.
    walk("archive", o.archivist, expect=Status.ARCHIVED)
