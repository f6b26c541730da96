"""Routing and investigating: the responsible department (谁主管谁负责), assigning, starting the
investigation, notes.
"""

from __future__ import annotations

from django.utils.translation import gettext as _

from kesu.cases import regulator
from kesu.cases.actions.common import department_arg, user_arg, user_id_of
from kesu.cases.context import ActionContext, Outcome
from kesu.cases.models import (
    Kind,
    Status,
)
from kesu.errors import Invalid
from kesu.org import roles
from kesu.org.models import Department
from kesu.org.selectors import department_of, has_role


def route_department(ctx: ActionContext) -> Department:
    """谁主管谁负责: the category's department, else the policy's default."""
    case = ctx.case
    if case.kind == Kind.REPORT:
        code = ctx.rules.whistleblowing_department_code()
    else:
        code = (case.category.department_code if case.category else "") or ctx.rules.default_department_code()
    return department_arg(code)


def assign(ctx: ActionContext) -> Outcome:
    case = ctx.case
    dept = department_arg(ctx.data["department"]) if ctx.data.get("department") else route_department(ctx)
    handler = None
    if ctx.data.get("handler"):
        handler = user_arg(ctx.data["handler"], "handler")
        staff_dept = department_of(handler)
        if (
            staff_dept is None
            or staff_dept.pk != dept.pk
            or not has_role(handler, roles.HANDLER, roles.DEPT_HEAD)
        ):
            raise Invalid(_("经办人必须是责任部门的经办人员"), details={"handler": _("不属于责任部门")})
        if case.kind == Kind.REPORT and not has_role(handler, roles.RISK):
            raise Invalid(_("举报只能由风险合规人员办理"), details={"handler": _("须为风险合规人员")})
        regulator.check_recusal(case, ctx.rules, handler, as_what="handler")
    previous = {"department": case.department.code if case.department else None, "handler": case.handler_id}
    case.department = dept
    case.handler = handler
    to = Status.INVESTIGATING if case.status == Status.INVESTIGATING else Status.ASSIGNED
    return Outcome(
        to,
        {
            "department": dept.code,
            "handler": user_id_of(handler),
            "previous": previous,
            "note": ctx.text("note", required=False),
        },
        public=case.status == Status.ACCEPTED,
    )


def start_investigation(ctx: ActionContext) -> Outcome:
    case = ctx.case
    if case.handler_id is None:
        regulator.check_recusal(case, ctx.rules, ctx.actor, as_what="handler")
        case.handler = ctx.actor
    contacted = bool(ctx.data.get("contacted_customer"))
    if contacted:
        case.last_contact_at = ctx.now
    return Outcome(
        Status.INVESTIGATING,
        {"note": ctx.text("note", required=False), "contacted_customer": contacted},
        public=True,
    )


def add_note(ctx: ActionContext) -> Outcome:
    text = ctx.text("text")
    contacted = bool(ctx.data.get("contacted_customer"))
    if contacted:
        ctx.case.last_contact_at = ctx.now
    return Outcome(None, {"text": text, "contacted_customer": contacted})


def chase(ctx: ActionContext) -> Outcome:
    """催办: the customer complained again about this open case (003 电信分公司 ㈡2). Recorded on the open
    case's timeline (the complainant sees that their case was chased), the status does not change."""
    repeat = ctx.text("repeat", max_length=24)
    return Outcome(None, {"repeat": repeat, "repeat_count": ctx.case.repeat_count}, public=True)


def set_respondent(ctx: ActionContext) -> Outcome:
    """被投诉人/被投诉部门 and 涉事人员 as the handler established them (the complainant's name for them may
    differ).

    Omitted fields keep their value; an empty string clears one. Not public: naming a colleague is
    internal, the complainant sees the outcome, not whom it was counted against.
    """
    case = ctx.case
    previous = _respondent(case)
    if "respondent_name" in ctx.data:
        case.respondent_name = ctx.text("respondent_name", required=False, max_length=100)
    if "respondent_staff" in ctx.data:
        value = ctx.data["respondent_staff"]
        case.respondent_staff = user_arg(value, "respondent_staff") if value not in (None, "") else None
    if "involved_staff" in ctx.data:
        value = ctx.data["involved_staff"] or []
        if not isinstance(value, list) or len(value) > 20:
            raise Invalid(_("涉事人员格式无效"), details={"involved_staff": _("格式无效")})
        case.involved_staff.set([user_arg(v, "involved_staff") for v in value])
    if "respondent_department" in ctx.data:
        value = ctx.data["respondent_department"]
        case.respondent_department = department_arg(value) if value not in (None, "") else None
    elif "respondent_staff" in ctx.data and case.respondent_staff is not None:
        # The person's own unit unless the handler names another one.
        case.respondent_department = department_of(case.respondent_staff)
    current = _respondent(case)
    if current == previous:
        raise Invalid(_("被投诉人信息没有变化"), details={"respondent_name": _("没有变化")})
    return Outcome(None, {**current, "previous": previous, "note": ctx.text("note", required=False)})


def _respondent(case) -> dict:
    return {
        "respondent_name": case.respondent_name,
        "respondent_staff": case.respondent_staff_id,
        "respondent_department": case.respondent_department.code if case.respondent_department_id else None,
        "involved_staff": sorted(case.involved_staff.values_list("pk", flat=True)),
    }
