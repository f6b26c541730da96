"""API endpoints of kesu.analytics (mounted under /api/v1/analytics by kesu/api.py).

Every figure of the dashboard and the reports as JSON, for BI tools. Filters are the same
query parameters as the web pages (`date_from`, `date_to`, `kind`, `channel`, `level`,
`status`, `category`, `department`, `branch`, `region`, `product`, `handler`, `flag`); each
row carries `params`, the filters of the case list behind it.
"""

# No `from __future__ import annotations`: ninja reads the endpoints' annotations at runtime.

import datetime as dt
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Router

from kesu.analytics import jrt, kpis, selectors, services
from kesu.analytics.models import GeneratedReport, ImprovementMeasure
from kesu.analytics.periods import SHANGHAI, Period
from kesu.analytics.selectors import DIMENSIONS, StatFilters
from kesu.analytics.views import ANALYSIS_ROLES
from kesu.cases.storable import unstorable_text
from kesu.errors import Forbidden, Invalid, NotFound
from kesu.org.selectors import has_role

router = Router(tags=["analytics"])


def _user(request: HttpRequest):
    user = getattr(request, "auth", None) or request.user

    if not (getattr(user, "is_superuser", False) or has_role(user, *ANALYSIS_ROLES)):
        raise Forbidden("您无权查看统计分析")
    return user


def _filters(request: HttpRequest) -> StatFilters:
    problems = selectors.filter_problems(request.GET)
    # Several endpoints declare no query parameter, so the API parser never sees their query string.
    problems.update(
        {
            key: _("含有 NUL 等无法处理的字符")
            for key, values in request.GET.lists()
            if unstorable_text([key, *values])
        }
    )
    if problems:
        raise Invalid(_("筛选条件无效：") + "、".join(problems), details=problems)
    return StatFilters.from_params(request.GET)


def _period(text: str) -> Period:
    try:
        return Period.parse(text)
    except (ValueError, TypeError):
        raise Invalid(f"无效的期间：{text}", details={"period": "如 2026-11、2026-W45、2026-Q4、2026-11-05"})


def _jsonable(rows: list[dict]) -> list[dict]:
    for r in rows:
        for k, v in list(r.items()):
            if isinstance(v, dt.date):
                r[k] = v.isoformat()
    return rows


@router.get("/definitions", summary="指标与维度定义", operation_id="analytics_definitions")
def definitions(request: HttpRequest) -> dict[str, Any]:
    _user(request)
    return {
        "kpis": [
            {"code": k.code, "name": k.name, "definition": k.definition, "unit": k.unit} for k in kpis.KPIS
        ],
        "dimensions": [{"code": d.code, "label": d.label, "param": d.param} for d in DIMENSIONS.values()],
        "buckets": list(selectors.TRUNC),
        "flags": selectors.FLAGS,
    }


@router.get("/counts", summary="按维度与时间粒度计数", operation_id="analytics_counts")
def counts(request: HttpRequest, dims: str = "", bucket: str = "") -> dict[str, Any]:
    user = _user(request)
    names = [d for d in dims.split(",") if d]
    unknown = [d for d in names if d not in DIMENSIONS]
    if unknown or (bucket and bucket not in selectors.TRUNC):
        raise Invalid("未知维度或时间粒度", details={"dims": unknown, "bucket": bucket})
    f = _filters(request)
    rows = selectors.count_by(f, names, bucket=bucket or None, user=user)
    for r in rows:
        r["params"] = selectors.drill_params(f, r["params"])
    return {"total": sum(r["count"] for r in rows), "rows": _jsonable(rows)}


@router.get("/compare", summary="环比与同比（TOP-N 热点）", operation_id="analytics_compare")
def compare(
    request: HttpRequest, period: str, dim: str = "", n: int = 0, customers: int = 0
) -> dict[str, Any]:
    user = _user(request)
    if dim and dim not in DIMENSIONS:
        raise Invalid(f"未知维度：{dim}")
    p = _period(period)
    f = _filters(request)
    f.date_from = f.date_to = None
    rows = selectors.compare(f, p, dim or None, user=user, customer_base=customers or None)
    return {
        "period": {"start": p.start.isoformat(), "end": p.end.isoformat(), "label": p.label},
        "rows": rows[:n] if n else rows,
    }


@router.get("/trend", summary="趋势序列", operation_id="analytics_trend")
def trend(request: HttpRequest, bucket: str = "month", dim: str = "") -> dict[str, Any]:
    user = _user(request)
    if bucket not in selectors.TRUNC or (dim and dim not in DIMENSIONS):
        raise Invalid("未知维度或时间粒度")
    return selectors.trend(_filters(request), bucket, dim or None, user=user)


@router.get("/pareto", summary="原因帕累托（80/20）", operation_id="analytics_pareto")
def pareto(request: HttpRequest, dim: str = "subcategory") -> dict[str, Any]:
    user = _user(request)
    if dim not in DIMENSIONS:
        raise Invalid(f"未知维度：{dim}")
    return selectors.pareto(_filters(request), dim, user=user)


@router.get("/heatmap", summary="热力图（如分类 × 机构）", operation_id="analytics_heatmap")
def heatmap(request: HttpRequest, x: str = "branch", y: str = "category") -> dict[str, Any]:
    user = _user(request)
    if x not in DIMENSIONS or y not in DIMENSIONS:
        raise Invalid("未知维度")
    return selectors.heatmap(_filters(request), x, y, user=user)


@router.get("/kpis", summary="考核指标（按部门/机构/经办人）", operation_id="analytics_kpis")
def kpi_rows(request: HttpRequest, group: str = "") -> dict[str, Any]:
    user = _user(request)
    if group not in ("", "department", "branch", "handler"):
        raise Invalid(f"未知分组：{group}")
    f = _filters(request)
    return {
        "rows": kpis.compute_kpis(f, group or None, user=user),
        "stages": kpis.stage_timeliness(f, group or None, user=user),
    }


@router.get("/hotspots", summary="重复投诉人、群体、危机渠道等", operation_id="analytics_hotspots")
def hotspots(request: HttpRequest) -> dict[str, Any]:
    user = _user(request)
    f = _filters(request)
    return {
        "flags": selectors.special_lists(f, user=user),
        "repeat_complainers": selectors.repeat_complainers(f, user=user),
    }


@router.get("/measures", summary="整改措施", operation_id="analytics_measures")
def measures(request: HttpRequest) -> list[dict[str, Any]]:
    _user(request)
    return [
        {
            "id": m.pk,
            "title": m.title,
            "root_cause": m.root_cause,
            "category": m.category.code if m.category_id else None,
            "branch": m.branch.code if m.branch_id else None,
            "product": m.product,
            "due_date": m.due_date.isoformat(),
            "state": m.state,
            "approved_at": m.approved_at.isoformat() if m.approved_at else None,
            "effective": m.effective,
            "effect_before": m.effect_before,
            "effect_after": m.effect_after,
        }
        for m in ImprovementMeasure.objects.select_related("category", "branch")
    ]


@router.post(
    "/measures/{measure_id}/approve",
    summary="总经理批准整改措施（批准前不得实施）",
    operation_id="analytics_measure_approve",
)
def approve_measure(request: HttpRequest, measure_id: int) -> dict[str, Any]:
    user = _user(request)
    if not services.may_approve(user):
        raise Forbidden(_("只有总经理可以审批整改措施"), code="role_not_allowed")
    measure = ImprovementMeasure.objects.filter(pk=measure_id).first()
    if measure is None:
        raise NotFound(_("整改措施不存在"))
    measure = services.approve_measure(measure, actor=user)
    return {"id": measure.pk, "state": measure.state, "approved_at": measure.approved_at.isoformat()}


@router.get("/reports", summary="报告存档", operation_id="analytics_reports")
def report_list(request: HttpRequest) -> list[dict[str, Any]]:
    _user(request)
    return [
        {
            "id": r.pk,
            "kind": r.kind,
            "format": r.format,
            "title": r.title,
            "period_start": r.period_start.isoformat(),
            "period_end": r.period_end.isoformat(),
            "generated_at": r.generated_at.isoformat(),
            "size": r.size,
            "due_on": r.due_on.isoformat() if r.due_on else None,
            "findings": r.findings,
            "url": f"/analytics/reports/{r.pk}/",
        }
        for r in GeneratedReport.objects.all()[:500]
    ]


@router.get("/jrt", summary="JR/T 0169-2018 三维度投诉统计", operation_id="analytics_jrt")
def jrt_counts(request: HttpRequest, period: str = "", format: str = "json"):
    """Complaints of a period (default: last month) per channel × business type × cause code (JR/T
    0169-2018), for the financial presets; cases with an axis missing are counted under 未编码
    (code ""). `format=csv|xlsx` downloads the same table. Not a financial policy: 409 `conflict`."""
    user = _user(request)
    if format not in ("json", "csv", "xlsx"):
        raise Invalid(_("无效的格式：%(f)s") % {"f": format}, details={"format": "json、csv 或 xlsx"})
    today = timezone.now().astimezone(SHANGHAI).date()
    p = _period(period) if period else Period.of("month", today).previous()
    table = jrt.axis_counts(p, user=user)
    if format != "json":
        content, content_type, name = jrt.render(table, format)
        response = HttpResponse(content, content_type=content_type)
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response
    return {
        "standard": table.standard,
        "period": {"start": p.start.isoformat(), "end": p.last_day.isoformat(), "label": p.label},
        "total": table.total,
        "uncoded": table.uncoded,
        "rows": table.rows,
    }
