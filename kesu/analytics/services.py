"""Writes of the analysis app: improvement measures (CAPA) and their effect evaluation."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from kesu.analytics.models import ImprovementMeasure
from kesu.analytics.periods import SHANGHAI, Period
from kesu.analytics.selectors import StatFilters, case_queryset
from kesu.cases.models import Case
from kesu.errors import Conflict, Forbidden, Invalid
from kesu.org import roles
from kesu.org.models import Department
from kesu.org.selectors import direct_supervisor, has_role, users_with_role
from kesu.policy.models import Category
from kesu.policy.selectors import active_policy, rules_for
from kesu.sla.notify import notify

# A measure counts as effective when the target series falls by at least this share.
EFFECT_THRESHOLD_PCT = 20.0


def _today() -> dt.date:
    return timezone.now().astimezone(SHANGHAI).date()


@transaction.atomic
def create_measure(*, actor, data: dict[str, Any], cases: list[Case] | None = None) -> ImprovementMeasure:
    """Create a measure from a form, from one or many cases, or from a hot spot (its target series)."""
    errors: dict[str, str] = {}
    title = str(data.get("title") or "").strip()
    if not title:
        errors["title"] = _("必填")
    root_cause = str(data.get("root_cause") or "").strip()
    if not root_cause:
        errors["root_cause"] = _("必填")
    due = data.get("due_date")
    if isinstance(due, str):
        try:
            due = dt.date.fromisoformat(due)
        except ValueError:
            errors["due_date"] = _("日期格式无效")
    if not isinstance(due, dt.date):
        errors.setdefault("due_date", _("必填"))
    category = None
    if data.get("category"):
        category = Category.objects.filter(code=data["category"]).first()
        if category is None:
            errors["category"] = _("未知分类")
    branch = department = None
    if data.get("branch"):
        branch = Department.objects.filter(code=data["branch"]).first()
        if branch is None:
            errors["branch"] = _("未知机构")
    if data.get("department"):
        department = Department.objects.filter(code=data["department"]).first()
        if department is None:
            errors["department"] = _("未知部门")
    owner = None
    if data.get("owner"):
        from django.contrib.auth import get_user_model

        owner = (
            get_user_model().objects.filter(pk=data["owner"]).first()
            if str(data["owner"]).isdigit()
            else None
        )
        if owner is None:
            errors["owner"] = _("未知人员")
    if errors:
        raise Invalid(_("整改措施信息不完整"), details=errors)
    cases = list(cases or [])
    if cases and category is None and not data.get("category"):
        # From cases: target the category they share, if any.
        categories = {c.category_id for c in cases}
        if len(categories) == 1 and None not in categories:
            category = cases[0].category
    measure = ImprovementMeasure.objects.create(
        title=title,
        root_cause=root_cause,
        measure=str(data.get("measure") or ""),
        category=category,
        product=str(data.get("product") or ""),
        branch=branch,
        department=department,
        owner=owner,
        due_date=due,
        started_on=data.get("started_on") or _today(),
        effect_window_days=int(data.get("effect_window_days") or 30),
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    if cases:
        measure.cases.set(cases)
    approver = approval_role()
    if approver:
        # 001 篇9 3.1.2: the measure takes effect once approved; the approvers find it in their inbox.
        measure.state = ImprovementMeasure.State.PENDING_APPROVAL
        measure.save(update_fields=["state"])
        notify(
            [u for u in users_with_role(approver) if u.pk != getattr(actor, "pk", None)],
            kind="measure.approval",
            message="measure.approval",
            params={"t": title, "c": root_cause[:200]},
            key=f"measure:{measure.pk}:approval",
        )
    return measure


def approval_role() -> str:
    """The role that approves improvement measures before they take effect ("": none needed)."""
    return str(rules_for(active_policy()).section("improvement").get("approval_role") or "")


def may_approve(actor) -> bool:
    role = approval_role()
    return bool(role) and has_role(actor, role)


@transaction.atomic
def approve_measure(measure: ImprovementMeasure, *, actor) -> ImprovementMeasure:
    """The approver (the general manager) lets a pending measure take effect: it becomes 待实施."""
    if not may_approve(actor):
        label = roles.ROLE_LABELS.get(approval_role(), approval_role())
        raise Forbidden(_("只有%(role)s可以审批整改措施") % {"role": label}, code="role_not_allowed")
    measure = ImprovementMeasure.objects.select_for_update().get(pk=measure.pk)
    if measure.state != ImprovementMeasure.State.PENDING_APPROVAL:
        raise Conflict(_("该整改措施不在待审批状态"), code="not_pending")
    measure.state = ImprovementMeasure.State.PLANNED
    measure.approved_by, measure.approved_at = actor, timezone.now()
    measure.save(update_fields=["state", "approved_by", "approved_at"])
    return measure


@transaction.atomic
def update_state(measure: ImprovementMeasure, state: str, *, evidence: str = "", on: dt.date | None = None):
    if state not in ImprovementMeasure.State.values:
        raise Invalid(f"未知状态：{state}", details={"state": "未知状态"})
    pending = ImprovementMeasure.State.PENDING_APPROVAL
    # Nothing takes effect before the approval (approve_measure), and nothing returns to it.
    if measure.state == pending and state not in (pending, ImprovementMeasure.State.CANCELLED):
        label = roles.ROLE_LABELS.get(approval_role(), approval_role())
        raise Conflict(_("整改措施须经%(role)s审批后才能实施") % {"role": label}, code="approval_required")
    if measure.state != pending and state == pending:
        raise Conflict(_("整改措施已审批"), code="already_approved")
    if state == ImprovementMeasure.State.DONE and not (evidence or measure.evidence):
        raise Invalid("完成整改须提供完成证明", details={"evidence": _("必填")})
    measure.state = state
    if evidence:
        measure.evidence = evidence
    if state == ImprovementMeasure.State.DONE:
        measure.completed_on = on or _today()
    measure.save()
    return measure


def target_filters(measure: ImprovementMeasure) -> StatFilters:
    """The complaint series a measure targets (category subtree, branch, product)."""
    return StatFilters(
        category=measure.category.code if measure.category_id else "",
        branch=measure.branch.code if measure.branch_id else "",
        product=measure.product,
    )


def effect_periods(measure: ImprovementMeasure) -> tuple[Period, Period]:
    """Before: the window before the measure started. After: the same length after it was completed."""
    days = measure.effect_window_days
    before = Period(measure.started_on - dt.timedelta(days=days), measure.started_on)
    done = measure.completed_on or measure.due_date
    after_start = done + dt.timedelta(days=1)
    return before, Period(after_start, after_start + dt.timedelta(days=days))


def evaluate_effect(measure: ImprovementMeasure, *, today: dt.date | None = None) -> dict[str, Any]:
    """Complaint count of the target series before vs after; effective when it fell by ≥ 20%.

    Stored on the measure once the after-window is complete (before that the result is provisional).
    """
    today = today or _today()
    before, after = effect_periods(measure)
    target = target_filters(measure)
    n_before = case_queryset(target.with_period(before)).count()
    n_after = case_queryset(target.with_period(after)).count()
    complete = measure.completed_on is not None and after.end <= today
    change = None if not n_before else round((n_after - n_before) * 100.0 / n_before, 1)
    effective = None
    if complete:
        effective = n_after == 0 if n_before == 0 else change <= -EFFECT_THRESHOLD_PCT
        measure.effect_before, measure.effect_after = n_before, n_after
        measure.effective, measure.evaluated_at = effective, timezone.now()
        measure.save(update_fields=["effect_before", "effect_after", "effective", "evaluated_at"])
    if effective is True:
        verdict = f"整改有效：目标投诉由 {n_before} 件降至 {n_after} 件"
    elif effective is False:
        verdict = f"整改效果不明显：目标投诉由 {n_before} 件变为 {n_after} 件"
    else:
        verdict = "评估期未满，暂不能判断整改效果"
    return {
        "before": n_before,
        "after": n_after,
        "before_period": before,
        "after_period": after,
        "change_pct": change,
        "complete": complete,
        "effective": effective,
        "verdict": verdict,
        "before_params": target.with_period(before).to_params(),
        "after_params": target.with_period(after).to_params(),
    }


def escalate_overdue_measures(*, today: dt.date | None = None) -> list[ImprovementMeasure]:
    """Overdue measures escalate like cases: the owner and the owner's direct supervisor are told once."""

    today = today or _today()
    overdue = ImprovementMeasure.objects.filter(
        state__in=[ImprovementMeasure.State.PLANNED, ImprovementMeasure.State.IN_PROGRESS],
        due_date__lt=today,
        escalated_at__isnull=True,
    ).select_related("owner")
    done = []
    for measure in overdue:
        recipients = []
        if measure.owner_id and measure.owner.email:
            recipients.append(measure.owner.email)
            boss = direct_supervisor(measure.owner)
            if boss is not None and boss.email:
                recipients.append(boss.email)
        if recipients:
            send_mail(
                f"整改措施超期：{measure.title}",
                f"整改措施“{measure.title}”的完成期限为 {measure.due_date.isoformat()}，目前尚未完成，请尽快处理。",
                None,
                recipients,
                fail_silently=True,
            )
        measure.escalated_at = timezone.now()
        measure.save(update_fields=["escalated_at"])
        done.append(measure)
    return done
