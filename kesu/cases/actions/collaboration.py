"""Working together on a case: another department's help (协办) and the panel review (合议).

Where the policy names an approval role ([collaboration] / [panel] approval_role; 003 恒康天安 第四条(七),
第六条(四), 第七条(一)), a handler's request is a proposal: the collaborating department or the panel
members get the work only once the supervisor approves it (`decide_collaboration_request`,
`decide_panel_request`). The approver chairs the panel unless they name another chair (第七条(四)3).
"""

from __future__ import annotations

from django.utils.translation import gettext as _

from kesu.cases import regulator
from kesu.cases.actions.common import department_arg, user_arg, user_id_of
from kesu.cases.context import ActionContext, Outcome
from kesu.cases.models import (
    CollaborationRequest,
    PanelParticipant,
    PanelReview,
)
from kesu.errors import Conflict, Forbidden, Invalid, NotFound
from kesu.org import roles
from kesu.org.selectors import department_of, has_role, user_roles

# Who may chair a panel: the complaint supervisor (第七条(四)3) or a rank above.
CHAIR_ROLES = (roles.SUPERVISOR, roles.CS_MANAGER, roles.GENERAL_MANAGER)


def _may_approve(user, role: str) -> bool:
    """The approval role, or a rank above it in the management chain (a manager may do a supervisor's)."""
    chain = roles.MANAGEMENT_CHAIN
    above = chain[chain.index(role) :] if role in chain else (role,)
    return bool(user_roles(user) & set(above))


def _check_approver(ctx: ActionContext, role: str, requested_by_id: int | None) -> None:
    if not _may_approve(ctx.actor, role):
        raise Forbidden(
            _("本申请须由「%(role)s」审批") % {"role": roles.ROLE_LABELS.get(role, role)},
            code="above_authority",
            details={"required_role": role},
        )
    if requested_by_id == user_id_of(ctx.actor):
        raise Forbidden(_("不能审批自己提出的申请"), code="own_proposal")
    regulator.check_recusal(ctx.case, ctx.rules, ctx.actor, as_what="approver")


def _approved_flag(ctx: ActionContext) -> bool:
    value = ctx.data.get("approve")
    if value in (None, ""):
        raise Invalid(_("缺少必填项：approve"), details={"approve": _("必填")})
    return value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes", "on")


# --- 协办 ------------------------------------------------------------------------------------------------


def request_collaboration(ctx: ActionContext) -> Outcome:
    case = ctx.case
    ctx.require("department")
    dept = department_arg(ctx.data["department"])
    if dept.pk == case.department_id:
        raise Invalid(_("协办部门不能是责任部门本身"), details={"department": _("不能是责任部门")})
    question = ctx.text("question")
    approval_role = ctx.rules.collaboration_approval_role
    req = CollaborationRequest.objects.create(
        case=case,
        from_department=case.department,
        to_department=dept,
        question=question,
        requested_by=ctx.actor,
        requested_at=ctx.now,
        state=CollaborationRequest.State.PROPOSED if approval_role else CollaborationRequest.State.OPEN,
    )
    payload = {"request_id": req.pk, "department": dept.code, "question": question}
    if approval_role:
        # A proposal: the supervisor is told (kesu.sla.handoffs); no deadline runs until it is approved.
        payload |= {"awaiting_approval": True, "approval_role": approval_role}
    return Outcome(None, payload)


def decide_collaboration_request(ctx: ActionContext) -> Outcome:
    """The supervisor approves or refuses a proposed 协办 (003 恒康天安 第六条(四)). Approved, the request
    goes to the other department (its 5-working-day clock starts, kesu.sla); refused, the handler is told
    why and carries on alone."""
    ctx.require("request_id")
    req = CollaborationRequest.objects.filter(pk=ctx.data["request_id"], case=ctx.case).first()
    if req is None:
        raise NotFound(_("协办请求不存在"))
    if req.state != CollaborationRequest.State.PROPOSED:
        raise Conflict(_("该协办申请已审批"), code="already_decided")
    role = ctx.rules.collaboration_approval_role or roles.SUPERVISOR
    _check_approver(ctx, role, req.requested_by_id)
    approved = _approved_flag(ctx)
    note = ctx.text("note", required=not approved)
    req.state = CollaborationRequest.State.OPEN if approved else CollaborationRequest.State.REJECTED
    req.decided_by, req.decided_at, req.decision_note = ctx.actor, ctx.now, note
    req.save()
    return Outcome(
        None,
        {
            "request_id": req.pk,
            "approved": approved,
            "department": req.to_department.code,
            "question": req.question,
            "requested_by": req.requested_by_id,
            "note": note,
        },
    )


def answer_collaboration(ctx: ActionContext) -> Outcome:
    ctx.require("request_id")
    req = CollaborationRequest.objects.filter(pk=ctx.data["request_id"], case=ctx.case).first()
    if req is None:
        raise NotFound(_("协办请求不存在"))
    if req.state in (CollaborationRequest.State.PROPOSED, CollaborationRequest.State.REJECTED):
        raise Conflict(_("该协办申请未获批准，协办部门尚不能回复"), code="not_approved")
    if req.state != CollaborationRequest.State.OPEN:
        raise Conflict(_("该协办请求已回复"), code="already_answered")
    dept = department_of(ctx.actor)
    if dept is None or dept.pk != req.to_department_id:
        raise Forbidden(_("只有被请求协办的部门可以回复"))
    req.answer = ctx.text("answer")
    req.answered_by, req.answered_at, req.state = ctx.actor, ctx.now, CollaborationRequest.State.ANSWERED
    req.save()
    return Outcome(None, {"request_id": req.pk, "answer": req.answer})


# --- 合议 ------------------------------------------------------------------------------------------------


def convene_panel(ctx: ActionContext) -> Outcome:
    """Convene a panel review (合议), or — where the policy needs the supervisor's approval — propose it.

    The members must include the manager level where the policy says so ([panel] member_roles, 003 恒康天安
    第七条(三)1); nobody involved in the complaint may sit on it (NFRA 回避, kesu.cases.regulator).
    """
    participants = ctx.data.get("participants") or []
    if not isinstance(participants, list) or len(set(map(str, participants))) < 2:
        raise Invalid(_("合议至少需要两名参加人"), details={"participants": _("至少两人")})
    users = [user_arg(p, "participants") for p in dict.fromkeys(map(str, participants))]
    for user in users:
        regulator.check_recusal(ctx.case, ctx.rules, user, as_what="panel_member")
    _require_manager_level(ctx, users)
    approval_role = ctx.rules.panel_approval_role
    chair = None
    if not approval_role:
        # Without an approval step the convener chairs unless they name someone else.
        chair = user_arg(ctx.data["chair"], "chair") if ctx.data.get("chair") else ctx.actor
        regulator.check_recusal(ctx.case, ctx.rules, chair, as_what="chair")
    review = PanelReview.objects.create(
        case=ctx.case,
        topic=ctx.text("topic", max_length=200),
        convened_by=ctx.actor,
        convened_at=ctx.now,
        chair=chair,
        state=PanelReview.State.PROPOSED if approval_role else PanelReview.State.CONVENED,
    )
    PanelParticipant.objects.bulk_create([PanelParticipant(review=review, user=u) for u in users])
    payload = {
        "review_id": review.pk,
        "topic": review.topic,
        "participants": [u.pk for u in users],
        "chair": user_id_of(chair),
    }
    if approval_role:
        # A proposal: the supervisor is told; the members are invited and the clock starts on approval.
        payload |= {"awaiting_approval": True, "approval_role": approval_role}
    return Outcome(None, payload)


def _require_manager_level(ctx: ActionContext, users) -> None:
    needed = ctx.rules.panel_member_roles
    if not needed or any(has_role(u, *needed) for u in users):
        return
    names = "、".join(str(roles.ROLE_LABELS.get(r, r)) for r in needed)
    rule = ctx.rules.section("panel").get("seed") or "panel.member_roles"
    raise Invalid(
        _("合议参加人须包括管理层人员（%(roles)s）（%(rule)s）") % {"roles": names, "rule": rule},
        code="panel_needs_manager",
        details={"participants": _("须包括%(roles)s") % {"roles": names}, "rule": rule},
    )


def _review(ctx: ActionContext) -> PanelReview:
    ctx.require("review_id")
    review = PanelReview.objects.filter(pk=ctx.data["review_id"], case=ctx.case).first()
    if review is None:
        raise NotFound(_("合议记录不存在"))
    return review


def decide_panel_request(ctx: ActionContext) -> Outcome:
    """The supervisor approves or refuses a proposed panel (003 恒康天安 第七条(一)(四)2). Approved, the
    panel is convened: the approver chairs it (or names the chair), the members are invited and its
    15-day clock starts (kesu.sla stage `panel_decision`); refused, the handler is told why."""
    review = _review(ctx)
    if review.state != PanelReview.State.PROPOSED:
        raise Conflict(_("该合议申请已审批"), code="already_decided")
    role = ctx.rules.panel_approval_role or roles.SUPERVISOR
    _check_approver(ctx, role, review.convened_by_id)
    approved = _approved_flag(ctx)
    note = ctx.text("note", required=not approved)
    review.approved_by, review.approved_at, review.approval_note = ctx.actor, ctx.now, note
    payload = {
        "review_id": review.pk,
        "approved": approved,
        "topic": review.topic,
        "requested_by": review.convened_by_id,
        "note": note,
    }
    if not approved:
        review.state = PanelReview.State.REJECTED
        review.save()
        return Outcome(None, payload)
    chair = user_arg(ctx.data["chair"], "chair") if ctx.data.get("chair") else ctx.actor
    if not has_role(chair, *CHAIR_ROLES):
        raise Invalid(_("合议主持人须为投诉主管或以上人员"), details={"chair": _("须为投诉主管或以上")})
    regulator.check_recusal(ctx.case, ctx.rules, chair, as_what="chair")
    review.chair, review.state = chair, PanelReview.State.CONVENED
    # The panel's own clock (第八条(四)) runs from its convening, not from the handler's request.
    review.convened_at = ctx.now
    review.save()
    # The chair is a member: they record the decision and sign the minutes with the others.
    PanelParticipant.objects.get_or_create(review=review, user=chair)
    members = sorted(review.participants.values_list("user_id", flat=True))
    return Outcome(None, payload | {"chair": chair.pk, "participants": members})


def _require_convened(review: PanelReview) -> None:
    if review.state == PanelReview.State.PROPOSED:
        raise Conflict(_("合议申请尚待审批"), code="not_approved")
    if review.state == PanelReview.State.REJECTED:
        raise Conflict(_("合议申请未获批准"), code="not_approved")
    if review.state != PanelReview.State.CONVENED:
        raise Conflict(_("该合议已有决议"), code="already_decided")


def _require_member(ctx: ActionContext, review: PanelReview) -> None:
    actor_id = user_id_of(ctx.actor)
    is_member = actor_id in (review.convened_by_id, review.chair_id) or (
        review.participants.filter(user=ctx.actor).exists()
    )
    if not is_member:
        raise Forbidden(_("只有召集人、主持人或参加人可以记录合议意见"))


def record_preliminary_opinion(ctx: ActionContext) -> Outcome:
    """初步意见: the panel could not settle on the day; its preliminary, leaning opinion is recorded (003
    恒康天安 第七条(四)4) on the case's timeline and the handler is told; the final one follows within the
    panel's deadline (第八条(四)), which keeps running."""
    review = _review(ctx)
    _require_convened(review)
    _require_member(ctx, review)
    review.preliminary_opinion, review.preliminary_at = ctx.text("opinion"), ctx.now
    review.save(update_fields=["preliminary_opinion", "preliminary_at"])
    return Outcome(
        None, {"review_id": review.pk, "topic": review.topic, "opinion": review.preliminary_opinion}
    )


def decide_panel(ctx: ActionContext) -> Outcome:
    review = _review(ctx)
    _require_convened(review)
    _require_member(ctx, review)
    review.minutes, review.decision = ctx.text("minutes"), ctx.text("decision")
    review.state, review.decided_at = PanelReview.State.DECIDED, ctx.now
    review.meeting_at = ctx.instant("meeting_at")  # when the panel met (optional)
    review.save()
    return Outcome(None, {"review_id": review.pk, "decision": review.decision})


def confirm_panel(ctx: ActionContext) -> Outcome:
    review = _review(ctx)
    if review.state in (PanelReview.State.PROPOSED, PanelReview.State.REJECTED, PanelReview.State.CONVENED):
        raise Conflict(_("合议尚无决议，无法确认纪要"), code="not_decided")
    participant = review.participants.filter(user=ctx.actor).first()
    if participant is None:
        raise Forbidden(_("只有合议参加人可以确认纪要"))
    if participant.confirmed_at:
        raise Conflict(_("您已确认过该纪要"), code="already_confirmed")
    participant.confirmed_at, participant.opinion = ctx.now, ctx.text("opinion", required=False)
    participant.save()
    if not review.participants.filter(confirmed_at__isnull=True).exists():
        review.state = PanelReview.State.CONFIRMED
        review.save(update_fields=["state"])
    return Outcome(
        None, {"review_id": review.pk, "all_confirmed": review.state == PanelReview.State.CONFIRMED}
    )
