"""Every hand-off tells its recipient: the inbox of each person the work lands on (kesu.sla.handoffs)."""

from __future__ import annotations

import pytest

from kesu.cases.models import ArchiveAccessRequest, CollaborationRequest, PanelReview, Status
from kesu.cases.services import register_case
from kesu.sla.models import Notification
from tests import factories
from tests.cases.helpers import Walk

pytestmark = pytest.mark.django_db


def inbox(user, kind: str) -> list[str]:
    return list(Notification.objects.filter(user=user, kind=kind).values_list("title", flat=True))


def test_one_major_complaint_tells_everyone_it_reaches(org):
    o = org
    case = factories.make_case(o.intake, flags=["injury"], claimed_amount="3000")
    n = case.number
    # a new major case: the leaders at once (not the intake agent who registered it)
    assert inbox(o.supervisor, "handoff.major") == [f"重大投诉，请关注：{n}"]
    assert inbox(o.manager, "handoff.major") and not inbox(o.intake, "handoff.major")
    walk = Walk(case)
    walk("accept", o.intake)
    assert len(inbox(o.supervisor, "handoff.major")) == 1  # once per case and level

    walk("assign", o.intake, handler=o.handler.pk)
    assert inbox(o.handler, "handoff.assigned") == [f"案件分派给您：{n}"]
    walk("start_investigation", o.handler, contacted_customer=True)

    walk("request_collaboration", o.handler, department="FINANCE", question="请核实付款记录")
    assert inbox(o.finance_handler, "handoff.collaboration") == [f"协办请求：{n}（请核实付款记录）"]
    request = CollaborationRequest.objects.get(case=case)
    walk("answer_collaboration", o.finance_handler, request_id=request.pk, answer="已全额付款")
    assert inbox(o.handler, "handoff.collaboration_answered") == [f"协办已答复：{n}"]

    walk("convene_panel", o.handler, topic="赔偿", participants=[o.quality_head.pk, o.handler2.pk])
    assert inbox(o.handler2, "handoff.panel") == [f"合议邀请：{n}"]
    assert not inbox(o.handler, "handoff.panel")  # the convener acted; not told of their own action
    review = PanelReview.objects.get(case=case)
    walk("decide_panel", o.quality_head, review_id=review.pk, minutes="有缺陷", decision="赔偿")
    assert inbox(o.handler2, "handoff.panel_decided") and inbox(o.handler, "handoff.panel_decided")
    walk("confirm_panel", o.quality_head, review_id=review.pk)
    walk("confirm_panel", o.handler2, review_id=review.pk)

    walk("propose_remedy", o.handler, remedy_type="compensation", amount="1500", description="赔偿")
    assert inbox(o.supervisor, "handoff.approval") == [f"方案待您审批：{n}"]
    assert not inbox(o.gm, "handoff.approval")  # not yet their step
    walk("approve", o.supervisor, comment="同意")
    assert inbox(o.gm, "handoff.approval") == [f"方案待您审批：{n}"]
    walk("approve", o.gm, comment="同意", expect=Status.RESPONDING)
    assert inbox(o.handler, "handoff.approval_decided") == [f"方案已获批准：{n}"]

    walk("reply", o.handler, text="已赔偿")
    walk("close", o.handler, criterion="accepted")
    walk("follow_up", o.followup, score=2, comment="未到账", expect=Status.INVESTIGATING)
    assert inbox(o.handler, "handoff.reopened") == [f"案件重新处理：{n}"]
    walk.assert_timeline()


def test_archive_access_reports_and_portal_complaints_reach_their_desks(org):
    o = org
    case = factories.make_case(o.intake)
    walk = Walk(case)
    walk("accept", o.intake)
    walk("assign", o.intake, handler=o.handler.pk)
    walk("start_investigation", o.handler, contacted_customer=True)
    walk("propose_remedy", o.handler, remedy_type="explanation", amount="0", description="说明")
    walk("reply", o.handler, text="说明")
    walk("close", o.handler, criterion="accepted")
    walk("follow_up", o.followup, score=5)
    walk("archive", o.archivist, expect=Status.ARCHIVED)
    walk("request_archive_access", o.handler2, reason="核对赔付口径")
    assert inbox(o.archivist, "handoff.archive_access") == [f"档案调阅申请：{case.number}"]
    req = ArchiveAccessRequest.objects.get(case=case)
    walk("decide_archive_access", o.archivist, request_id=req.pk, approve=True)
    assert inbox(o.handler2, "handoff.archive_access_decided") == [f"调阅申请已批准：{case.number}"]

    report = factories.make_case(o.intake, kind="report", subject="举报销售误导")
    assert inbox(o.risk, "handoff.report") == [f"新举报待处理：{report.number}"]
    assert not Notification.objects.filter(case=report).exclude(user=o.risk).exists()

    portal = register_case(actor=None, data=factories.complaint_data(channel="web")).case
    assert inbox(o.intake, "handoff.new_case") == [f"新投诉待受理：{portal.number}"]
    assert inbox(o.supervisor, "handoff.new_case")


def test_a_staff_registered_normal_complaint_notifies_nobody(org):
    factories.make_case(org.intake)
    assert not Notification.objects.filter(kind__startswith="handoff.").exists()
