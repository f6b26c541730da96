"""协办 and 合议 under the supervisor (003 恒康天安 第四条(七), 第六条(四), 第七条, 第八条(四)), and recusal of
everyone involved (NFRA 回避) — walked through `perform` and the API, checking what the handler, the
supervisor, the collaborating department, the panel members and the complainant see."""

from __future__ import annotations

import datetime as dt

import pytest

from kesu.calendar.workcalendar import format_instant
from kesu.cases import permissions
from kesu.cases.models import CaseEvent, CollaborationRequest, PanelParticipant, PanelReview
from kesu.cases.services import allowed_actions, perform
from kesu.errors import Conflict, Forbidden, Invalid, NotFound
from kesu.sla.models import Notification, StageDeadline
from kesu.web.portal import _public_timeline
from tests import factories

from .helpers import at, register

pytestmark = pytest.mark.django_db

NFRA_RULE = "银保监会令2020年第3号（与投诉有利害关系的人员应当回避）"


def inbox(user, kind: str) -> list[str]:
    return list(Notification.objects.filter(user=user, kind=kind).values_list("title", flat=True))


def stages(case, stage: str) -> list[StageDeadline]:
    return list(StageDeadline.objects.filter(case=case, stage=stage).order_by("pk"))


def investigating(o, when: str = "2026-03-02 10:00", **overrides):
    """An insurance claim complaint with the claims handler, under investigation."""
    case = register(o, when, category="claims.delay", **overrides)
    t = at(when) + dt.timedelta(hours=1)
    perform(case, "accept", o.intake, now=t, category="claims.delay")
    perform(case, "assign", o.intake, now=t, department="CLAIMS", handler=o.claims_handler.pk)
    perform(case, "start_investigation", o.claims_handler, now=t + dt.timedelta(minutes=5))
    return case


# --- 1. 协办 needs the supervisor's approval (insurance) -------------------------------------------------


def test_insurance_collaboration_is_a_proposal_until_the_supervisor_approves_it():
    o = factories.org("insurance")
    case = investigating(o)
    n = case.number
    event = perform(
        case,
        "request_collaboration",
        o.claims_handler,
        now=at("2026-03-03 10:00"),
        department="FINANCE",
        question="请核实付款记录",
    )
    req = CollaborationRequest.objects.get(case=case)
    assert req.state == "proposed" and event.payload["awaiting_approval"] is True
    # The supervisor is asked; the finance department neither hears of it, sees the case, nor can answer.
    assert inbox(o.supervisor, "handoff.collaboration_request") == [f"协办申请待您审批：{n}"]
    assert inbox(o.finance_handler, "handoff.collaboration") == []
    assert not permissions.can_view(o.finance_handler, case)
    with pytest.raises(NotFound):
        perform(case, "answer_collaboration", o.finance_handler, request_id=req.pk, answer="已付")
    assert stages(case, "collaboration") == []  # no clock runs on a proposal
    # The handler cannot approve their own request; the supervisor's page offers the decision.
    with pytest.raises(Forbidden):
        perform(case, "decide_collaboration_request", o.claims_handler, request_id=req.pk, approve=True)
    assert "decide_collaboration_request" in allowed_actions(case, o.supervisor)

    perform(
        case,
        "decide_collaboration_request",
        o.supervisor,
        now=at("2026-03-04 09:00"),
        request_id=req.pk,
        approve=True,
    )
    req.refresh_from_db()
    assert req.state == "open" and req.decided_by == o.supervisor
    # Now the department gets the work and its 5-working-day clock runs from the approval.
    assert inbox(o.finance_handler, "handoff.collaboration") == [f"协办请求：{n}（请核实付款记录）"]
    assert inbox(o.claims_handler, "handoff.collaboration_decided") == [f"协办申请已获批准：{n}"]
    (stage,) = stages(case, "collaboration")
    assert stage.state == "open" and format_instant(stage.due_at) == "2026-03-11T23:59:59+08:00"
    assert permissions.can_view(o.finance_handler, case)
    perform(
        case,
        "answer_collaboration",
        o.finance_handler,
        now=at("2026-03-05 09:00"),
        request_id=req.pk,
        answer="已全额付款",
    )
    assert stages(case, "collaboration")[0].state == "met"
    assert inbox(o.claims_handler, "handoff.collaboration_answered") == [f"协办已答复：{n}"]


def test_insurance_collaboration_refused_with_a_reason_the_handler_reads():
    o = factories.org("insurance")
    case = investigating(o)
    perform(case, "request_collaboration", o.claims_handler, department="LEGAL", question="请出具法律意见")
    req = CollaborationRequest.objects.get(case=case)
    with pytest.raises(Invalid):  # a refusal states why
        perform(case, "decide_collaboration_request", o.supervisor, request_id=req.pk, approve=False)
    perform(
        case,
        "decide_collaboration_request",
        o.supervisor,
        request_id=req.pk,
        approve=False,
        note="本案无需法律意见",
    )
    req.refresh_from_db()
    assert req.state == "rejected" and req.decision_note == "本案无需法律意见"
    assert inbox(o.claims_handler, "handoff.collaboration_decided") == [
        f"协办申请未获批准：{case.number}（本案无需法律意见）"
    ]
    assert stages(case, "collaboration") == []
    with pytest.raises(Conflict) as twice:
        perform(case, "decide_collaboration_request", o.supervisor, request_id=req.pk, approve=True)
    assert twice.value.code == "already_decided"


def test_general_collaboration_goes_out_at_once():
    o = factories.org("general")
    case = register(o, "2026-03-02 10:00")
    perform(case, "accept", o.intake)
    perform(case, "assign", o.intake, department="QUALITY", handler=o.handler.pk)
    perform(case, "start_investigation", o.handler)
    event = perform(case, "request_collaboration", o.handler, department="FINANCE", question="请核实")
    assert "awaiting_approval" not in event.payload
    assert CollaborationRequest.objects.get(case=case).state == "open"
    assert [s.state for s in stages(case, "collaboration")] == ["open"]
    assert inbox(o.finance_handler, "handoff.collaboration")
    assert inbox(o.supervisor, "handoff.collaboration_request") == []


# --- 1 and 2. 合议: approved and chaired by the supervisor, the manager level, 15 days, preliminary opinion --


def test_insurance_panel_needs_a_manager_and_the_supervisors_approval_and_is_chaired_by_them():
    o = factories.org("insurance")
    case = investigating(o)
    n = case.number
    # Without a member of the manager level (客服经理 / 总经理) the panel is refused, naming the rule.
    with pytest.raises(Invalid) as refused:
        perform(
            case,
            "convene_panel",
            o.claims_handler,
            topic="赔付口径",
            participants=[o.claims_head.pk, o.finance_handler.pk],
        )
    assert refused.value.code == "panel_needs_manager"
    assert "客服经理" in refused.value.message and "003 恒康天安 第七条" in refused.value.message
    assert not PanelReview.objects.exists()

    event = perform(
        case,
        "convene_panel",
        o.claims_handler,
        now=at("2026-03-03 10:00"),
        topic="赔付口径",
        participants=[o.manager.pk, o.finance_handler.pk],
    )
    review = PanelReview.objects.get(case=case)
    assert review.state == "proposed" and review.chair is None and event.payload["awaiting_approval"]
    assert inbox(o.supervisor, "handoff.panel_request") == [f"合议申请待您审批：{n}"]
    assert inbox(o.finance_handler, "handoff.panel") == [] and inbox(o.manager, "handoff.panel") == []
    assert not permissions.can_view(o.finance_handler, case)
    assert stages(case, "panel_decision") == []
    with pytest.raises(Conflict) as early:
        perform(case, "decide_panel", o.claims_handler, review_id=review.pk, minutes="m", decision="d")
    assert early.value.code == "not_approved"

    perform(
        case,
        "decide_panel_request",
        o.supervisor,
        now=at("2026-03-04 10:00"),
        review_id=review.pk,
        approve=True,
    )
    review.refresh_from_db()
    # The approving supervisor chairs it and is a member; the members are invited now.
    assert review.state == "convened" and review.chair == o.supervisor
    assert set(PanelParticipant.objects.filter(review=review).values_list("user__username", flat=True)) == {
        "manager",
        "finance_handler",
        "supervisor",
    }
    assert inbox(o.finance_handler, "handoff.panel") == [f"合议邀请：{n}"]
    assert inbox(o.manager, "handoff.panel") == [f"合议邀请：{n}"]
    assert inbox(o.claims_handler, "handoff.panel_request_decided") == [f"合议申请已获批准：{n}"]
    # The final opinion within 15 (calendar) days of the convening: 19 March, end of day.
    (stage,) = stages(case, "panel_decision")
    assert (stage.amount, stage.unit) == (15, "calendar_days")
    assert format_instant(stage.due_at) == "2026-03-19T23:59:59+08:00"

    # No decision on the day: the chair records a preliminary opinion; the handler is told, the clock runs.
    perform(
        case,
        "record_preliminary_opinion",
        o.supervisor,
        now=at("2026-03-04 16:00"),
        review_id=review.pk,
        opinion="倾向于按合同赔付，先安抚客户",
    )
    assert inbox(o.claims_handler, "handoff.panel_preliminary") == [f"合议初步意见：{n}"]
    assert stages(case, "panel_decision")[0].state == "open"
    preliminary = CaseEvent.objects.get(case=case, action="record_preliminary_opinion")
    assert preliminary.payload["opinion"] == "倾向于按合同赔付，先安抚客户" and not preliminary.is_public
    # Outsiders cannot put words in the panel's mouth.
    with pytest.raises(Forbidden):
        perform(case, "record_preliminary_opinion", o.claims_head, review_id=review.pk, opinion="x")

    perform(
        case,
        "decide_panel",
        o.supervisor,
        now=at("2026-03-12 10:00"),
        review_id=review.pk,
        minutes="讨论纪要",
        decision="按合同赔付",
    )
    assert stages(case, "panel_decision")[0].state == "met"
    timeline = list(CaseEvent.objects.filter(case=case).order_by("seq").values_list("action", flat=True))
    assert timeline[-4:] == [
        "convene_panel",
        "decide_panel_request",
        "record_preliminary_opinion",
        "decide_panel",
    ]
    # Nothing of the panel's internal work on the complainant's progress page.
    assert not any("合议" in row["label"] for row in _public_timeline(case))


def test_insurance_panel_refused_by_the_supervisor():
    o = factories.org("insurance")
    case = investigating(o)
    perform(
        case, "convene_panel", o.claims_handler, topic="赔付", participants=[o.manager.pk, o.claims_head.pk]
    )
    review = PanelReview.objects.get()
    with pytest.raises(Forbidden) as own:  # a manager may approve, but never the one who asked
        perform(case, "decide_panel_request", o.claims_handler, review_id=review.pk, approve=True)
    assert own.value.code == "role_not_allowed"
    perform(
        case,
        "decide_panel_request",
        o.supervisor,
        review_id=review.pk,
        approve=False,
        note="证据不足，先补充调查",
    )
    review.refresh_from_db()
    assert review.state == "rejected" and review.chair is None
    assert inbox(o.claims_handler, "handoff.panel_request_decided") == [
        f"合议申请未获批准：{case.number}（证据不足，先补充调查）"
    ]
    assert inbox(o.manager, "handoff.panel") == [] and stages(case, "panel_decision") == []


def test_general_panel_is_convened_directly_and_chaired_by_its_convener():
    o = factories.org("general")
    case = register(o, "2026-03-02 10:00")
    perform(case, "accept", o.intake)
    perform(case, "assign", o.intake, department="QUALITY", handler=o.handler.pk)
    perform(case, "start_investigation", o.handler)
    perform(case, "convene_panel", o.handler, topic="赔偿", participants=[o.handler2.pk, o.quality_head.pk])
    review = PanelReview.objects.get()
    assert review.state == "convened" and review.chair == o.handler
    assert [s.state for s in stages(case, "panel_decision")] == ["open"]
    assert inbox(o.handler2, "handoff.panel")


# --- 3. recusal covers everyone involved (NFRA) ----------------------------------------------------------


def test_nfra_recusal_refuses_anyone_involved_as_handler_member_chair_approver_or_reviewer():
    o = factories.org("insurance", ["nfra"])
    # The respondent is a claims head; the claims handler who processed the claim is recorded as involved.
    case = register(
        o,
        "2026-03-02 10:00",
        category="claims.delay",
        respondent_staff=o.claims_head.username,
        involved_staff=[o.handler2.username],
    )
    perform(case, "accept", o.intake, now=at("2026-03-02 11:00"), category="claims.delay")
    with pytest.raises(Forbidden) as handler:
        perform(case, "assign", o.intake, department="CLAIMS", handler=o.claims_head.pk)
    assert handler.value.code == "recusal"
    assert handler.value.message == f"被投诉人须回避，不得担任本案的经办人（{NFRA_RULE}）"
    assert handler.value.details == {"handler": "被投诉人须回避", "rule": NFRA_RULE}
    perform(case, "assign", o.intake, department="CLAIMS", handler=o.claims_handler.pk)
    perform(case, "start_investigation", o.claims_handler)
    # Found later: the supervisor signed off the claim. The handler records them as involved.
    perform(case, "set_respondent", o.claims_handler, involved_staff=[o.handler2.pk, o.supervisor.pk])
    assert set(case.involved_staff.values_list("username", flat=True)) == {"handler2", "supervisor"}

    with pytest.raises(Forbidden) as member:
        perform(
            case, "convene_panel", o.claims_handler, topic="x", participants=[o.manager.pk, o.handler2.pk]
        )
    assert (
        member.value.code == "recusal" and "涉事人员须回避，不得担任本案的合议参加人" in member.value.message
    )
    perform(
        case,
        "convene_panel",
        o.claims_handler,
        topic="赔付",
        participants=[o.manager.pk, o.finance_handler.pk],
    )
    review = PanelReview.objects.get()
    # The involved supervisor neither approves nor chairs it; the other supervisor does.
    with pytest.raises(Forbidden) as approver:
        perform(case, "decide_panel_request", o.supervisor, review_id=review.pk, approve=True)
    assert approver.value.code == "recusal" and "审批人" in approver.value.message
    with pytest.raises(Forbidden) as chair:
        perform(
            case,
            "decide_panel_request",
            o.supervisor2,
            review_id=review.pk,
            approve=True,
            chair=o.supervisor.pk,
        )
    assert chair.value.code == "recusal" and chair.value.details["chair"] == "涉事人员须回避"
    perform(case, "decide_panel_request", o.supervisor2, review_id=review.pk, approve=True)
    assert PanelReview.objects.get().chair == o.supervisor2

    # The 核查 of the decision: not by whoever worked on the case (the panel chair, its members), nor anyone
    # involved; the general manager, who took no part, may conclude it.
    perform(case, "decide_panel", o.supervisor2, review_id=review.pk, minutes="纪要", decision="赔付")
    perform(case, "propose_remedy", o.claims_handler, remedy_type="explanation", description="解释条款")
    perform(case, "reply", o.claims_handler, text="经核实，按合同条款处理。")
    perform(case, "request_review", o.intake, reason="客户不服，申请核查")
    with pytest.raises(Forbidden) as reviewer:
        perform(case, "conclude_review", o.supervisor2, conclusion="维持")
    assert reviewer.value.code == "recusal" and "办理过本案的人员须回避" in reviewer.value.message
    perform(case, "conclude_review", o.gm, conclusion="维持原处理决定")


def test_without_a_recusal_rule_the_involved_may_handle():
    o = factories.org("insurance")
    case = register(o, "2026-03-02 10:00", category="claims.delay", involved_staff=[o.claims_handler.pk])
    perform(case, "accept", o.intake, category="claims.delay")
    perform(case, "assign", o.intake, department="CLAIMS", handler=o.claims_handler.pk)
    assert case.handler_id == o.claims_handler.pk


# --- the case page -----------------------------------------------------------------------------------------


def test_case_page_offers_the_supervisor_the_decision_and_shows_chair_and_preliminary_opinion(client):
    o = factories.org("insurance", ["nfra"])
    case = investigating(o)
    url = f"/cases/{case.number}/"

    def post(user, action: str, data: dict) -> None:
        case.refresh_from_db()
        client.force_login(user)
        r = client.post(f"{url}act/{action}/", {"expected_version": case.version, **data})
        assert r.status_code == 302, r.content.decode()[:500]

    # The handler records the staff involved from the page (the recusal list), then proposes a panel.
    post(o.claims_handler, "set_respondent", {"involved_staff": [str(o.handler2.pk)], "note": "经手理赔"})
    assert list(case.involved_staff.values_list("username", flat=True)) == ["handler2"]
    post(
        o.claims_handler,
        "convene_panel",
        {"topic": "赔付口径", "participants": [o.manager.pk, o.claims_head.pk]},
    )
    review = PanelReview.objects.get()
    client.force_login(o.supervisor)
    html = client.get(url).content.decode()
    assert f"/cases/{case.number}/act/decide_panel_request/" in html
    assert "待审批" in html and "批准后由您主持合议" in html
    # Not yet in the members' 合议 queue: the panel is nobody's work before the supervisor approves it.
    client.force_login(o.manager)
    assert case.number not in client.get("/queues/panels/").content.decode()
    post(o.supervisor, "decide_panel_request", {"review_id": review.pk, "approve": "1"})
    client.force_login(o.manager)
    assert case.number in client.get("/queues/panels/").content.decode()
    post(o.supervisor, "record_preliminary_opinion", {"review_id": review.pk, "opinion": "倾向于按合同赔付"})
    client.force_login(o.claims_handler)
    html = client.get(url).content.decode()
    assert "主持人：supervisor" in html and "倾向于按合同赔付" in html
    assert "记录合议初步意见" in html  # the timeline row the handler reads
