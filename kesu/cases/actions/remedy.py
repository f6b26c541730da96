"""The remedy and its approval: proposals, special closure, and the approval chain."""

from __future__ import annotations

from decimal import Decimal

from django.utils.translation import gettext as _

from kesu.cases import regulator
from kesu.cases.actions.common import amount_arg, user_id_of
from kesu.cases.actions.lessons import require_emergency_plan
from kesu.cases.context import ActionContext, Outcome
from kesu.cases.models import (
    ROLE_BOUND_REMEDIES,
    ApprovalStep,
    PanelReview,
    Proposal,
    RemedyType,
    Status,
)
from kesu.errors import Conflict, Forbidden, Invalid
from kesu.org import roles
from kesu.org.selectors import user_roles


def _check_no_pending_proposal(case) -> None:
    if case.proposals.filter(state=Proposal.State.PENDING).exists():
        raise Conflict(_("已有待审批的方案"), code="proposal_pending")


def propose_remedy(ctx: ActionContext) -> Outcome:
    case = ctx.case
    remedy = ctx.data.get("remedy_type")
    offered = ctx.rules.remedy_types(list(RemedyType.values), ROLE_BOUND_REMEDIES)
    if remedy not in offered or remedy == RemedyType.SPECIAL_CLOSURE:
        raise Invalid(
            _("未知处理方式：%(remedy)s") % {"remedy": remedy}, details={"remedy_type": _("未知处理方式")}
        )
    if (
        case.level in ctx.rules.panel_required_levels
        and not case.panel_reviews.filter(state=PanelReview.State.CONFIRMED).exists()
    ):
        raise Conflict(_("重大/危机投诉须先经合议决议，并由全体参加人确认纪要"), code="panel_required")
    _check_no_pending_proposal(case)
    amount = amount_arg(ctx.data.get("amount"), "amount")
    premium = (
        amount_arg(ctx.data["premium"], "premium") if ctx.data.get("premium") not in (None, "") else None
    )
    cash_value = (
        amount_arg(ctx.data["cash_value"], "cash_value")
        if ctx.data.get("cash_value") not in (None, "")
        else None
    )
    chain = ctx.rules.approval_chain(
        amount=amount, premium=premium, remedy=remedy, level=case.level, cash_value=cash_value
    )
    proposal = Proposal.objects.create(
        case=case,
        remedy_type=remedy,
        amount=amount,
        premium=premium,
        cash_value=cash_value,
        description=ctx.text("description"),
        proposed_by=ctx.actor,
        proposed_at=ctx.now,
        required_roles=chain,
        state=Proposal.State.PENDING if chain else Proposal.State.APPROVED,
    )
    to = Status.PENDING_APPROVAL if chain else Status.RESPONDING
    return Outcome(
        to,
        {
            "proposal_id": proposal.pk,
            "remedy_type": remedy,
            "amount": str(amount),
            **({"cash_value": str(cash_value)} if cash_value is not None else {}),
            "required_roles": chain,
        },
    )


def request_special_closure(ctx: ActionContext) -> Outcome:
    """001 篇10: demands far beyond the loss or repeated complaints for gain → special closure, approved."""
    case = ctx.case
    _check_no_pending_proposal(case)
    chain = ctx.rules.approval_chain(
        amount=Decimal(0), premium=None, remedy="special_closure", level=case.level
    )
    proposal = Proposal.objects.create(
        case=case,
        remedy_type=RemedyType.SPECIAL_CLOSURE,
        description=ctx.text("reason"),
        proposed_by=ctx.actor,
        proposed_at=ctx.now,
        required_roles=chain,
    )
    return Outcome(
        Status.PENDING_APPROVAL,
        {"proposal_id": proposal.pk, "required_roles": chain, "reason": proposal.description},
    )


def _pending_proposal(ctx: ActionContext) -> Proposal:
    proposal = ctx.case.proposals.filter(state=Proposal.State.PENDING).order_by("-pk").first()
    if proposal is None:
        raise Conflict(_("没有待审批的方案"), code="no_pending_proposal")
    if ctx.data.get("proposal_id") and int(ctx.data["proposal_id"]) != proposal.pk:
        raise Conflict(_("该方案已不在审批中"), code="stale_proposal")
    return proposal


def _check_approver(ctx: ActionContext, proposal: Proposal) -> str:
    role = proposal.next_role
    if role is None:
        raise Conflict(_("该方案已审批完毕"), code="already_approved")
    if role not in user_roles(ctx.actor):
        raise Forbidden(
            _("本步审批需要「%(role)s」权限，超出您的审批权限") % {"role": roles.ROLE_LABELS.get(role, role)},
            code="above_authority",
            details={"required_role": role},
        )
    if proposal.proposed_by_id == user_id_of(ctx.actor):
        raise Forbidden(_("不能审批自己提出的方案"), code="own_proposal")
    if proposal.steps.filter(approver=ctx.actor).exists():
        raise Forbidden(_("同一人不能审批同一方案的两个步骤"), code="already_approved_step")
    regulator.check_recusal(ctx.case, ctx.rules, ctx.actor, as_what="approver")
    return role


def approve(ctx: ActionContext) -> Outcome:
    case = ctx.case
    proposal = _pending_proposal(ctx)
    role = _check_approver(ctx, proposal)
    step_no = proposal.steps.count() + 1
    ApprovalStep.objects.create(
        proposal=proposal,
        step=step_no,
        role=role,
        approver=ctx.actor,
        decision=ApprovalStep.Decision.APPROVED,
        comment=ctx.text("comment", required=False),
        decided_at=ctx.now,
    )
    payload = {"proposal_id": proposal.pk, "step": step_no, "role": role}
    if proposal.next_role is not None:
        return Outcome(Status.PENDING_APPROVAL, {**payload, "next_role": proposal.next_role})
    proposal.state = Proposal.State.APPROVED
    proposal.save(update_fields=["state"])
    if proposal.remedy_type == RemedyType.SPECIAL_CLOSURE:
        require_emergency_plan(ctx)
        case.closing_criterion, case.is_special_closure, case.closed_at = "special", True, ctx.now
        return Outcome(Status.CLOSED, {**payload, "final": True, "criterion": "special"}, public=True)
    return Outcome(Status.RESPONDING, {**payload, "final": True})


def reject(ctx: ActionContext) -> Outcome:
    proposal = _pending_proposal(ctx)
    role = _check_approver(ctx, proposal)
    comment = ctx.text("comment")
    ApprovalStep.objects.create(
        proposal=proposal,
        step=proposal.steps.count() + 1,
        role=role,
        approver=ctx.actor,
        decision=ApprovalStep.Decision.REJECTED,
        comment=comment,
        decided_at=ctx.now,
    )
    proposal.state = Proposal.State.REJECTED
    proposal.save(update_fields=["state"])
    return Outcome(Status.INVESTIGATING, {"proposal_id": proposal.pk, "role": role, "comment": comment})
