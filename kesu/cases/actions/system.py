"""System actions, taken by the deadline engine and the mail intake: escalation, deadline changes,
customer mail.
"""

from __future__ import annotations

from django.utils.translation import gettext as _

from kesu.cases.context import ActionContext, Outcome
from kesu.cases.models import (
    Level,
)
from kesu.errors import Invalid


def escalate(ctx: ActionContext) -> Outcome:
    # The sweeper decides whom to notify; the event records it on the case's timeline.
    return Outcome(None, dict(ctx.data))


def extend_deadline(ctx: ActionContext) -> Outcome:
    """Ask for more time on a stage: checked here; how far the deadline moves, and whether the
    policy's maximum allows it, is decided by the deadline engine (kesu.sla.subscriber), which adds
    the old and new due dates to the event."""
    try:
        days = int(ctx.data.get("days") or ctx.data.get("working_days") or 0)
    except (TypeError, ValueError):
        days = 0
    if days <= 0 or days > 365:
        raise Invalid(_("延长天数须为正整数"), details={"days": _("须为正整数")})
    reason = ctx.text("reason")
    stage = ctx.data.get("stage") or "answer"
    # The complainant is told when the answer is delayed and why (000 第3篇: 延期须告知客户; NFRA: each
    # extension and why, also of the stages the layer names); internal stages are not theirs to follow.
    regulator = ctx.rules.section("sla").get("extension", {}).get("regulator", {})
    public = stage == "answer" or (
        bool(regulator.get("notify_complainant")) and stage in regulator.get("stages", ["answer"])
    )
    return Outcome(None, {"stage": stage, "days": days, "reason": reason}, public=public)


def recompute_deadlines(ctx: ActionContext) -> Outcome:
    return Outcome(None, {"reason": ctx.text("reason", required=False)})


def customer_mail(ctx: ActionContext) -> Outcome:
    """A message from the customer arrived by e-mail (kesu.intake.mail); the status does not change."""
    ctx.case.last_contact_at = ctx.now
    return Outcome(None, dict(ctx.data))


def level_for(level: str) -> str:
    return Level(level).label
