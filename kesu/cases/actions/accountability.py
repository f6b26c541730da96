"""Accountability (责任追究): proposed, linked to a continuation, confirmed or waived."""

from __future__ import annotations

from django.utils.translation import gettext as _

from kesu.cases.actions.common import user_arg, user_id_of
from kesu.cases.context import ActionContext, Outcome
from kesu.cases.models import (
    Accountability,
)
from kesu.errors import Conflict, NotFound
from kesu.org.selectors import direct_supervisor


def _accountability(ctx: ActionContext) -> Accountability:
    ctx.require("accountability_id")
    record = Accountability.objects.filter(pk=ctx.data["accountability_id"], case=ctx.case).first()
    if record is None:
        raise NotFound(_("责任追究记录不存在"))
    if record.state != Accountability.State.PROPOSED:
        raise Conflict(_("该记录已处理"), code="already_decided")
    return record


def propose_accountability(ctx: ActionContext) -> Outcome:
    """责任追究: the penalty for the responsible person and the direct supervisor comes from the policy."""

    case = ctx.case
    ctx.require("person")
    person = user_arg(ctx.data["person"], "person")
    reason = ctx.text("reason", required=False, max_length=40) or "graded"
    if Accountability.objects.filter(case=case, person=person, reason=reason).exists():
        raise Conflict(_("该人员已有同一原因的责任追究记录"), code="duplicate_accountability")
    penalty = ctx.rules.penalty_for(level=case.level, channel=case.channel.code)
    supervisor = direct_supervisor(person)
    record = Accountability.objects.create(
        case=case,
        person=person,
        supervisor=supervisor,
        reason=reason,
        basis=penalty["basis"],
        person_amount=penalty["person"],
        supervisor_amount=penalty["supervisor"] if supervisor else 0,
        reminder=penalty["reminder"],
        created_at=ctx.now,
    )
    return Outcome(
        None,
        {
            "accountability_id": record.pk,
            "person": person.pk,
            "supervisor": user_id_of(supervisor),
            "basis": record.basis,
            "person_amount": str(record.person_amount),
            "supervisor_amount": str(record.supervisor_amount),
        },
    )


def link_continuation(ctx: ActionContext) -> Outcome:
    """Records on the earlier case that the matter continues in a new linked case."""
    return Outcome(
        None, {"continuation": ctx.text("continuation"), "reason": ctx.text("reason", required=False)}
    )


def confirm_accountability(ctx: ActionContext) -> Outcome:
    record = _accountability(ctx)
    record.state, record.decided_by, record.decided_at = Accountability.State.CONFIRMED, ctx.actor, ctx.now
    record.decision_reason = ctx.text("reason", required=False)
    record.save()
    return Outcome(
        None,
        {
            "accountability_id": record.pk,
            "person": record.person_id,
            "person_amount": str(record.person_amount),
        },
    )


def waive_accountability(ctx: ActionContext) -> Outcome:
    record = _accountability(ctx)
    record.state, record.decided_by, record.decided_at = Accountability.State.WAIVED, ctx.actor, ctx.now
    record.decision_reason = ctx.text("reason")
    record.save()
    return Outcome(None, {"accountability_id": record.pk, "reason": record.decision_reason})
