"""Working together on a case: another department's help (协办) and the panel review (合议)."""

from __future__ import annotations

from django.utils.translation import gettext as _

from kesu.cases.actions.common import department_arg, user_arg, user_id_of
from kesu.cases.context import ActionContext, Outcome
from kesu.cases.models import (
    CollaborationRequest,
    PanelParticipant,
    PanelReview,
)
from kesu.errors import Conflict, Forbidden, Invalid, NotFound
from kesu.org.selectors import department_of


def request_collaboration(ctx: ActionContext) -> Outcome:
    case = ctx.case
    ctx.require("department")
    dept = department_arg(ctx.data["department"])
    if dept.pk == case.department_id:
        raise Invalid(_("协办部门不能是责任部门本身"), details={"department": _("不能是责任部门")})
    question = ctx.text("question")
    req = CollaborationRequest.objects.create(
        case=case,
        from_department=case.department,
        to_department=dept,
        question=question,
        requested_by=ctx.actor,
        requested_at=ctx.now,
    )
    return Outcome(None, {"request_id": req.pk, "department": dept.code, "question": question})


def answer_collaboration(ctx: ActionContext) -> Outcome:
    ctx.require("request_id")
    req = CollaborationRequest.objects.filter(pk=ctx.data["request_id"], case=ctx.case).first()
    if req is None:
        raise NotFound(_("协办请求不存在"))
    if req.state != CollaborationRequest.State.OPEN:
        raise Conflict(_("该协办请求已回复"), code="already_answered")
    dept = department_of(ctx.actor)
    if dept is None or dept.pk != req.to_department_id:
        raise Forbidden(_("只有被请求协办的部门可以回复"))
    req.answer = ctx.text("answer")
    req.answered_by, req.answered_at, req.state = ctx.actor, ctx.now, CollaborationRequest.State.ANSWERED
    req.save()
    return Outcome(None, {"request_id": req.pk, "answer": req.answer})


def convene_panel(ctx: ActionContext) -> Outcome:
    participants = ctx.data.get("participants") or []
    if not isinstance(participants, list) or len(set(map(str, participants))) < 2:
        raise Invalid(_("合议至少需要两名参加人"), details={"participants": _("至少两人")})
    users = [user_arg(p, "participants") for p in dict.fromkeys(map(str, participants))]
    review = PanelReview.objects.create(
        case=ctx.case, topic=ctx.text("topic", max_length=200), convened_by=ctx.actor, convened_at=ctx.now
    )
    PanelParticipant.objects.bulk_create([PanelParticipant(review=review, user=u) for u in users])
    return Outcome(
        None, {"review_id": review.pk, "topic": review.topic, "participants": [u.pk for u in users]}
    )


def _review(ctx: ActionContext) -> PanelReview:
    ctx.require("review_id")
    review = PanelReview.objects.filter(pk=ctx.data["review_id"], case=ctx.case).first()
    if review is None:
        raise NotFound(_("合议记录不存在"))
    return review


def decide_panel(ctx: ActionContext) -> Outcome:
    review = _review(ctx)
    if review.state != PanelReview.State.CONVENED:
        raise Conflict(_("该合议已有决议"), code="already_decided")
    is_member = review.participants.filter(user=ctx.actor).exists() or review.convened_by_id == user_id_of(
        ctx.actor
    )
    if not is_member:
        raise Forbidden(_("只有召集人或参加人可以记录合议决议"))
    review.minutes, review.decision = ctx.text("minutes"), ctx.text("decision")
    review.state, review.decided_at = PanelReview.State.DECIDED, ctx.now
    review.meeting_at = ctx.instant("meeting_at")  # when the panel met (optional)
    review.save()
    return Outcome(None, {"review_id": review.pk, "decision": review.decision})


def confirm_panel(ctx: ActionContext) -> Outcome:
    review = _review(ctx)
    if review.state == PanelReview.State.CONVENED:
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
