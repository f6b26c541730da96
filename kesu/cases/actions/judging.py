"""Judging a new complaint: accept it (and grade it), mark it invalid, answer it at first contact, regrade it."""

from __future__ import annotations

from django.utils.translation import gettext as _

from kesu.cases import grading
from kesu.cases.actions.accountability import withdraw_proposed
from kesu.cases.context import ActionContext, Outcome
from kesu.cases.models import (
    Kind,
    Status,
)
from kesu.errors import IllegalTransition, Invalid
from kesu.policy.models import Category
from kesu.policy.rules import LEVELS

# The fault levels a preset grading by fault accepts (hotel: 轻微/一般/重大); a crisis is never a fault grade.
FAULT_LEVELS = ("normal", "urgent", "major")


def apply_grading(ctx: ActionContext) -> dict:
    """Grade the case from the rules unless a person overrode the level; returns the payload part."""
    case = ctx.case
    level, reasons = grading.grade(case, ctx.rules, channel_is_crisis=case.channel.is_crisis)
    if case.level_overridden:
        return {"level": case.level, "level_overridden": True}
    case.level, case.level_reasons = level, reasons
    return {"level": level, "level_reasons": reasons}


def route_to_recipient(case, rules) -> None:
    """A whistle-blowing report about senior management goes to the chairman, or to the recipient the
    policy names (003 举报 第十一条): flagged, and readable by the holders of that role."""
    case.flag_senior_management = True
    case.report_recipient_role = rules.senior_management_recipient()


def accept(ctx: ActionContext) -> Outcome:
    case = ctx.case
    payload: dict = {}
    kind = ctx.data.get("kind") or case.kind
    if kind not in Kind.values or (ctx.rules.enabled_kinds and kind not in ctx.rules.enabled_kinds):
        raise Invalid(_("未知类型：%(kind)s") % {"kind": kind}, details={"kind": _("未知类型")})
    case.kind = kind
    category_code = ctx.data.get("category")
    if category_code:
        category = Category.objects.filter(code=category_code, is_active=True).first()
        if category is None:
            raise Invalid(
                _("未知分类：%(category_code)s") % {"category_code": category_code},
                details={"category": _("未知分类")},
            )
        case.category = category
    # Whistle-blowing reports are routed to risk management, not by the complaint taxonomy.
    if case.category is None and kind not in (Kind.CONSULTATION, Kind.QUERY, Kind.SUGGESTION, Kind.REPORT):
        raise Invalid(_("受理投诉须选择分类"), details={"category": _("必填")})
    business_type = ctx.data.get("business_type")
    if business_type:
        if business_type not in ctx.rules.business_types:
            raise Invalid(
                _("未知业务类型：%(business_type)s") % {"business_type": business_type},
                details={"business_type": _("未知业务类型")},
            )
        case.business_type = business_type
    if ctx.data.get("senior_management"):
        if kind != Kind.REPORT:
            raise Invalid(
                _("只有举报可以标记涉及高级管理人员"), details={"senior_management": _("只有举报可以标记")}
            )
        route_to_recipient(case, ctx.rules)
    if case.report_recipient_role:
        payload["recipient_role"] = case.report_recipient_role
    fault_level = ctx.data.get("fault_level")
    if fault_level not in (None, ""):
        if ctx.rules.grading.get("by") != "fault":
            raise Invalid(
                _("本公司规则不按过错程度定级"), details={"fault_level": _("本公司规则不按过错程度定级")}
            )
        if fault_level not in FAULT_LEVELS:
            raise Invalid(
                _("未知过错程度：%(level)s") % {"level": fault_level},
                details={"fault_level": _("可选：") + "、".join(FAULT_LEVELS)},
            )
        case.fault_level = fault_level
        payload["fault_level"] = fault_level
    case.is_valid = True
    payload.update({"kind": kind, "category": case.category.code if case.category else None})
    payload.update(apply_grading(ctx))
    return Outcome(Status.ACCEPTED, payload, public=True)


def mark_invalid(ctx: ActionContext) -> Outcome:
    reason = ctx.text("reason")
    if reason not in ctx.rules.invalidity_reasons:
        raise Invalid(
            _("未知的无效原因：%(reason)s") % {"reason": reason},
            details={"reason": _("可选：") + "、".join(ctx.rules.invalidity_reasons)},
        )
    ctx.case.is_valid = False
    ctx.case.invalid_reason = reason
    ctx.case.closing_criterion = "invalid"
    ctx.case.closed_at = ctx.now
    payload = {"reason": reason, "note": ctx.text("note", required=False)}
    # Penalties apply only to valid, verified complaints (000 第2篇 第九条): a proposal made when the case
    # was assigned is withdrawn, and the withdrawal is part of this event.
    withdrawn = withdraw_proposed(
        ctx.case, actor=ctx.actor, now=ctx.now, reason=_("判定无效：%(reason)s") % {"reason": reason}
    )
    if withdrawn:
        payload["withdrawn_accountabilities"] = withdrawn
    return Outcome(Status.INVALID, payload, public=True)


def answer_first_contact(ctx: ActionContext) -> Outcome:
    case = ctx.case
    kind = ctx.data.get("kind") or case.kind
    if kind not in (Kind.CONSULTATION, Kind.QUERY, Kind.SUGGESTION):
        raise IllegalTransition(_("只有咨询、查询、建议可以当场答复"), code="not_answerable")
    case.kind = kind
    case.is_valid = True
    answer = ctx.text("answer")
    case.replied_at = case.closed_at = case.last_contact_at = ctx.now
    case.closing_criterion = "answered"
    return Outcome(Status.ANSWERED, {"answer": answer}, public=True)


def regrade(ctx: ActionContext) -> Outcome:
    level = ctx.data.get("level")
    if level not in LEVELS:
        raise Invalid(
            _("未知等级：%(level)s") % {"level": level}, details={"level": _("可选：") + "、".join(LEVELS)}
        )
    reason = ctx.text("reason")
    old = ctx.case.level
    ctx.case.level = level
    ctx.case.level_overridden = True
    ctx.case.level_reasons = [*ctx.case.level_reasons, {"rule": "manual", "level": level, "detail": reason}]
    return Outcome(None, {"from_level": old, "to_level": level, "reason": reason})
