"""What a case leaves behind: the typical-case library (典型案例) and a crisis case's emergency plan."""

from __future__ import annotations

from django.utils.translation import gettext as _

from kesu.cases.actions.common import user_arg
from kesu.cases.context import ActionContext, Outcome
from kesu.cases.models import EmergencyPlan, Kind, TypicalCase
from kesu.errors import Conflict


def mark_typical(ctx: ActionContext) -> Outcome:
    """003 第三条(二)7 挑选典型案例录入案例库: a finished case enters the library with its lesson (marking it
    again replaces the lesson). Whistle-blowing reports never enter it."""
    case = ctx.case
    if case.kind == Kind.REPORT:
        raise Conflict(_("举报案件不能录入典型案例库"), code="report_not_typical")
    lesson = ctx.text("lesson")
    TypicalCase.objects.update_or_create(
        case=case, defaults={"lesson": lesson, "marked_by": ctx.actor, "marked_at": ctx.now}
    )
    return Outcome(None, {"lesson": lesson})


def record_emergency_plan(ctx: ActionContext) -> Outcome:
    """000 第2篇 第六条一(一) 启动投诉应急预案: who leads, the measures, the contacts. Recording it again
    replaces it (the timeline keeps every version)."""
    ctx.require("leader")
    leader = user_arg(ctx.data["leader"], "leader")
    measures = ctx.text("measures")
    contacts = ctx.text("contacts", max_length=2000)
    EmergencyPlan.objects.update_or_create(
        case=ctx.case,
        defaults={
            "leader": leader,
            "measures": measures,
            "contacts": contacts,
            "recorded_by": ctx.actor,
            "recorded_at": ctx.now,
        },
    )
    return Outcome(None, {"leader": leader.pk, "measures": measures, "contacts": contacts})


def require_emergency_plan(ctx: ActionContext) -> None:
    """Closing a case of a level that needs an emergency plan (`emergency_plan.required_levels`)
    without one is refused."""
    required = ctx.rules.section("emergency_plan").get("required_levels", [])
    if ctx.case.level in required and not EmergencyPlan.objects.filter(case=ctx.case).exists():
        raise Conflict(
            _("危机投诉结案前须记录应急预案（负责人、措施、联络人）"), code="emergency_plan_required"
        )
