"""Replying and closing, and suspending a case (暂结案) until it can go on."""

from __future__ import annotations

from django.utils.translation import gettext as _

from kesu.calendar.workcalendar import add_months
from kesu.cases import regulator
from kesu.cases.actions.lessons import require_emergency_plan
from kesu.cases.context import ActionContext, Outcome
from kesu.cases.models import (
    Status,
)
from kesu.errors import Conflict, Invalid


def reply(ctx: ActionContext) -> Outcome:
    text = ctx.text("text")
    method = ctx.data.get("method") or "phone"
    ctx.case.replied_at = ctx.case.last_contact_at = ctx.now
    payload = {"text": text, "method": method}
    # NFRA: the decision names what the complainant may do if they disagree (申请核查、调解、仲裁、诉讼).
    remedies = regulator.further_remedies(ctx.rules)
    if remedies:
        payload["further_remedies"] = remedies
    return Outcome(None, payload, public=True)


def close(ctx: ActionContext) -> Outcome:
    case = ctx.case
    criterion = ctx.data.get("criterion")
    manual = [c for c in ctx.rules.manual_closing_criteria(case.kind) if c != "invalid"]
    if criterion not in manual:
        raise Invalid(
            _("结案依据无效：%(criterion)s") % {"criterion": criterion},
            details={"criterion": _("可选：") + "、".join(manual)},
        )
    if case.replied_at is None:
        raise Conflict(_("结案前须先答复客户"), code="reply_required")
    require_emergency_plan(ctx)
    case.closing_criterion, case.closed_at = criterion, ctx.now
    return Outcome(
        Status.CLOSED, {"criterion": criterion, "note": ctx.text("note", required=False)}, public=True
    )


def suspend(ctx: ActionContext) -> Outcome:
    case = ctx.case
    case.status_before_suspension = case.status
    case.suspended_at = ctx.now
    if case.last_contact_at is None:
        case.last_contact_at = ctx.now
    return Outcome(Status.SUSPENDED, {"reason": ctx.text("reason"), "from": case.status}, public=True)


def resume(ctx: ActionContext) -> Outcome:
    case = ctx.case
    to = case.status_before_suspension or Status.INVESTIGATING
    case.status_before_suspension = ""
    case.suspended_at = None
    case.last_contact_at = ctx.now
    return Outcome(to, {"note": ctx.text("note", required=False)}, public=True)


def expire_suspension(ctx: ActionContext) -> Outcome:
    """003: a suspension ends after at most N months from the last contact; the case is then closed."""
    case = ctx.case
    limit = add_months(case.last_contact_at or case.suspended_at, ctx.rules.suspension_max_months)
    if ctx.now < limit:
        raise Conflict(
            _("暂结案期限未满（至 %(date)s）") % {"date": limit.isoformat()}, code="suspension_not_expired"
        )
    case.closing_criterion, case.closed_at = "suspension_expired", ctx.now
    case.status_before_suspension = ""
    return Outcome(
        Status.CLOSED, {"criterion": "suspension_expired", "limit": limit.isoformat()}, public=True
    )
