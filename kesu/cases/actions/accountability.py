"""Accountability (责任追究): proposed, linked to a continuation, confirmed or waived."""

from __future__ import annotations

from decimal import Decimal

from django.utils.translation import gettext as _

from kesu.cases.actions.common import amount_arg, user_arg, user_id_of
from kesu.cases.context import ActionContext, Outcome
from kesu.cases.models import (
    Accountability,
    Case,
)
from kesu.errors import Conflict, Invalid, NotFound
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
    if case.is_valid is False:
        raise Conflict(_("无效投诉不追究责任"), code="invalid_complaint")
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
    """Confirm a proposal. With `pr_cost` (the PR cost the case caused), where the case's rule fines a
    share of it (000 第2篇 第九条二3: 公关费用的 10%), that share becomes the fine of both lines."""
    record = _accountability(ctx)
    payload: dict = {}
    if ctx.data.get("pr_cost") not in (None, ""):
        case = ctx.case
        share = ctx.rules.penalty_for(level=case.level, channel=case.channel.code)["pr_cost_share"]
        if share is None:
            raise Invalid(
                _("本案适用的罚款规则不按公关费用计罚"),
                details={"pr_cost": _("本案适用的规则没有按公关费用计罚的规定")},
            )
        cost = amount_arg(ctx.data["pr_cost"], "pr_cost")
        fine = (cost * share).quantize(Decimal("0.01"))
        record.pr_cost, record.person_amount = cost, fine
        record.supervisor_amount = fine if record.supervisor_id else Decimal(0)
        record.basis = f"{record.basis}:pr_cost"[:60]
        payload = {"pr_cost": str(cost), "supervisor_amount": str(record.supervisor_amount)}
    record.state, record.decided_by, record.decided_at = Accountability.State.CONFIRMED, ctx.actor, ctx.now
    record.decision_reason = ctx.text("reason", required=False)
    record.save()
    return Outcome(
        None,
        {
            "accountability_id": record.pk,
            "person": record.person_id,
            "person_amount": str(record.person_amount),
            **payload,
        },
    )


def waive_accountability(ctx: ActionContext) -> Outcome:
    record = _accountability(ctx)
    record.state, record.decided_by, record.decided_at = Accountability.State.WAIVED, ctx.actor, ctx.now
    record.decision_reason = ctx.text("reason")
    record.save()
    return Outcome(None, {"accountability_id": record.pk, "reason": record.decision_reason})


def withdraw_proposed(case: Case, *, actor, now, reason: str) -> list[int]:
    """Withdraw the case's undecided proposals (the case was judged invalid); returns their ids."""
    records = list(Accountability.objects.filter(case=case, state=Accountability.State.PROPOSED))
    for record in records:
        record.state, record.decided_by, record.decided_at = Accountability.State.WITHDRAWN, actor, now
        record.decision_reason = reason
        record.save(update_fields=["state", "decided_by", "decided_at", "decision_reason"])
    return [r.pk for r in records]
