"""Pages of the analysis app: dashboard, drill-down case list, KPIs, hot spots, CAPA, report archive.

Thin views: every figure comes from `selectors` / `kpis`, scoped to what the user may see.
"""

from __future__ import annotations

import datetime as dt
import io
from functools import wraps
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.middleware.csrf import get_token
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import get_language, gettext_lazy, gettext_noop
from django.utils.translation import gettext as _

from kesu.analytics import figures, jrt, kpis, reports, rollups, selectors, services, weekly
from kesu.analytics.models import GeneratedReport, ImprovementMeasure, ReportFormat, ReportKind
from kesu.analytics.periods import SHANGHAI, Period
from kesu.analytics.selectors import DIMENSIONS, FLAGS, StatFilters
from kesu.cases.models import Kind, Level, Status
from kesu.cases.spreadsheet import csv_writer, safe_row
from kesu.errors import Conflict, DomainError
from kesu.org import roles
from kesu.org.i18n import local_names
from kesu.org.models import Department
from kesu.org.selectors import has_role, is_company_wide, user_roles
from kesu.policy.models import Channel
from kesu.policy.selectors import category_choices
from kesu.sla.stages import stage_label

ANALYSIS_ROLES = (
    roles.ANALYST,
    roles.SUPERVISOR,
    roles.CS_MANAGER,
    roles.GENERAL_MANAGER,
    roles.DEPT_HEAD,
    roles.ADMIN,
)


def analyst_required(view):
    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs):
        if not (request.user.is_superuser or has_role(request.user, *ANALYSIS_ROLES)):
            raise PermissionDenied(_("您无权查看统计分析"))
        try:
            return view(request, *args, **kwargs)
        except DomainError as exc:
            messages.error(request, exc.message if hasattr(exc, "message") else str(exc))
            return redirect(request.path)

    return wrapper


def _today() -> dt.date:
    return timezone.now().astimezone(SHANGHAI).date()


def _filters(request: HttpRequest, *, default_days: int | None = 365) -> StatFilters:
    f = StatFilters.from_params(request.GET)
    if default_days and not f.date_from and not f.date_to:
        today = _today()
        f.date_from = Period.of("month", today - dt.timedelta(days=default_days)).start
        f.date_to = today
    return f


def drill_url(params: dict[str, str] | None, *, path: str | None = None) -> str | None:
    """The drill-down list of exactly the cases a figure counts; `path`: the list's path, resolved once
    by a caller that links hundreds of figures."""
    if params is None:
        return None
    return (path or reverse("analytics:cases")) + "?" + StatFilters.from_params(params).query_string()


def _choices() -> dict:
    return {
        "kinds": Kind.choices,
        "levels": Level.choices,
        "statuses": Status.choices,
        "channels": list(local_names(Channel.objects.filter(is_active=True)).items()),
        "categories": category_choices(),
        "branches": list(
            local_names(Department.objects.filter(kind__in=["branch", "sub_branch", "head_office"])).items()
        ),
        "departments": list(local_names(Department.objects.filter(is_active=True)).items()),
        "flags": list(FLAGS.items()),
        "buckets": [("day", "日"), ("week", "周"), ("month", "月"), ("quarter", "季度"), ("year", "年")],
    }


def _with_urls(rows: list[dict]) -> list[dict]:
    for r in rows:
        r["url"] = drill_url(r.get("params"))
    return rows


@analyst_required
def dashboard(request: HttpRequest) -> HttpResponse:
    f = _filters(request)
    bucket = request.GET.get("bucket") or "month"
    if bucket not in selectors.TRUNC:
        bucket = "month"
    user = request.user
    today = _today()
    now = timezone.now()

    scope = _figure_scope(user)
    # Everything the figures depend on besides the cases; the cases' own changes raise the version
    # (`figures.cached`), and the live count of the days catches rows written past the hooks.
    parts = (
        "dashboard",
        scope,
        get_language(),
        f.query_string(),
        bucket,
        today.isoformat(),
        selectors.group_size(),
        rollups.daily_counts_enabled(),
    )

    def compute() -> dict:
        if scope is None:
            data = _dashboard_figures(f, bucket, user, today, now)
        else:
            # The figures read from the daily counts are kept until a change moves those counts (most
            # events do not); the sums over the live table are cached per week of receipt, so after a
            # case event only that case's week is counted again (`weekly`).
            with weekly.scope(("dashboard", scope, selectors.group_size())):
                rolled = figures.cached_counts(
                    (*parts, selectors.received_count(f.date_from, f.date_to)),
                    lambda: _counted_figures(f, bucket, user, today),
                )
                data = _dashboard_figures(f, bucket, user, today, now, rolled=rolled)
        # The overdue count moves with the clock, not with an event: good until the next deadline.
        data["valid_until"] = selectors.next_deadline(now)
        return data

    # One page, one scope: the rollup's consistency check per range of days, the live count of the days
    # and the dimension id maps are read once for all its figures (and its cache key), not once per figure.
    with rollups.report_scope():
        if scope is None:
            data = compute()
        else:
            data = figures.cached(
                (*parts, selectors.received_count(f.date_from, f.date_to)),
                compute,
                still_valid=lambda entry: entry["valid_until"] is None or now < entry["valid_until"],
            )
    month = data["month"]
    return render(
        request,
        "analytics/dashboard.html",
        {
            "f": f,
            "bucket": bucket,
            "choices": data["choices"],
            "total": data["total"],
            "total_url": drill_url(f.to_params()),
            "month": month,
            "month_previous": month.previous(),
            "month_row": data["month_row"],
            "flags": data["flags"],
            "kpi": data["kpi"],
            "kpi_defs": kpis.KPIS,
            "chart_data": data["chart_data"],
        },
    )


def _figure_scope(user) -> str | None:
    """Who counts the same cases as `user`: company-wide viewers with the same roles (a report routed to a
    role is seen by that role), or None for a scoped viewer, whose cases depend on their own department
    and hand-offs (computed each time)."""
    if not is_company_wide(user):
        return None
    return ",".join(sorted(user_roles(user)))


def _drill(path: str):
    def drill(params):
        # Every chart's parameters are `selectors.drill_params`' output, already in the form
        # `StatFilters.query_string` gives (parsing them again, hundreds of times, was ~1/5 of the
        # page's CPU after a case event): the same link as `drill_url(params)`.
        return None if params is None else path + "?" + urlencode(params)

    return drill


def _counted_figures(f: StatFilters, bucket: str, user, today: dt.date) -> tuple[dict, bool]:
    """The figures of the page that the daily-count rollup can answer (the trends, the Pareto chart,
    the regions, the total, the month's comparison) and the lists of choices, with whether every one
    of them came from the rollup (`figures.cached_counts` keeps them only then)."""
    with rollups.tracking() as live:
        trend = selectors.trend(f, bucket, user=user)
        stacked = selectors.trend(f, bucket, "category", user=user)
        pareto = selectors.pareto(f, "subcategory", user=user)
        regions = sorted(selectors.count_by(f, ["region"], user=user), key=lambda r: -r["count"])[:15]
        total = selectors.total(f, user=user)
        # Month to date, compared with the same days of the previous month (not with all of it).
        month = Period.month_to_date(today)
        headline = selectors.compare(
            f.__class__(**{**f.__dict__, "date_from": None, "date_to": None}), month, user=user
        )
    drill = _drill(reverse("analytics:cases"))

    def urls(series_params):
        return [drill(p) if p else None for p in series_params]

    counted = {
        "trend": {
            "buckets": trend["buckets"],
            "series": [
                {"name": s["name"], "data": s["data"], "urls": urls(s["params"])} for s in trend["series"]
            ],
        },
        "stacked": {
            "buckets": stacked["buckets"],
            "series": [
                {"name": s["name"], "data": s["data"], "urls": urls(s["params"])} for s in stacked["series"]
            ],
        },
        "pareto": {
            "labels": [r["label"] for r in pareto["rows"]],
            "counts": [r["count"] for r in pareto["rows"]],
            "cumulative": [r["cumulative_pct"] for r in pareto["rows"]],
            "urls": [drill(r["params"]) for r in pareto["rows"]],
        },
        "regions": {
            "labels": [r["region_label"] for r in regions],
            "counts": [r["count"] for r in regions],
            "urls": [drill(selectors.drill_params(f, r["params"])) for r in regions],
        },
        "choices": _choices(),
        "total": total,
        "month": month,
        "month_row": headline[0] if headline else None,
    }
    return counted, not live


def _dashboard_figures(
    f: StatFilters, bucket: str, user, today: dt.date, now: dt.datetime, *, rolled: dict | None = None
) -> dict:
    """Every figure of the page (what `dashboard` caches); `rolled`: `_counted_figures`' part, when
    already at hand."""
    counted = rolled if rolled is not None else _counted_figures(f, bucket, user, today)[0]
    heat = selectors.heatmap(f, "branch", "category", user=user)
    # The three KPIs the page shows and the flag counts, from one pass over the period's cases.
    overall, flags = kpis.headline_with_flags(f, user=user, now=now)
    path = reverse("analytics:cases")
    drill = _drill(path)
    chart_data = {
        "labels": {"count": _("件数"), "cumulative": _("累计占比")},
        "trend": counted["trend"],
        "stacked": counted["stacked"],
        "pareto": counted["pareto"],
        "heatmap": {
            "x": [c["label"] for c in heat["x"]],
            "y": [c["label"] for c in heat["y"]],
            "cells": [[c["x"], c["y"], c["count"]] for c in heat["cells"]],
            "urls": {f"{c['x']},{c['y']}": drill(c["params"]) for c in heat["cells"]},
            "max": heat["max"],
        },
        "regions": counted["regions"],
    }
    for item in flags.values():
        item["url"] = drill_url(item["params"], path=path)
    return {
        "choices": counted["choices"],
        "total": counted["total"],
        "month": counted["month"],
        "month_row": counted["month_row"],
        "flags": flags,
        "kpi": overall,
        "chart_data": chart_data,
    }


@analyst_required
def case_list(request: HttpRequest) -> HttpResponse:
    """The drill-down: exactly the cases a figure counts (same filter parameters)."""
    f = _filters(request, default_days=None)
    qs = (
        selectors.case_queryset(f, user=request.user)
        .select_related("category", "branch", "department", "channel", "handler")
        .order_by("-received_at", "-id")
    )
    page = Paginator(qs, 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "analytics/cases.html",
        {
            "f": f,
            "page": page,
            "count": page.paginator.count,
            "query": query.urlencode(),
            "choices": _choices(),
            "describe": describe_filters(f),
        },
    )


def describe_filters(f: StatFilters) -> list[str]:
    out = []
    if f.date_from or f.date_to:
        out.append(f"接收日期 {f.date_from or '…'} 至 {f.date_to or '…'}")
    labels = {
        "kind": dict(Kind.choices),
        "level": dict(Level.choices),
        "status": dict(Status.choices),
        "flag": FLAGS,
    }
    for name in ("kind", "level", "status", "channel", "flag"):
        values = getattr(f, name)
        if values:
            mapping = labels.get(name, {})
            out.append(
                f"{DIMENSIONS.get(name).label if name in DIMENSIONS else '标记'}："
                + "、".join(str(mapping.get(v, v)) for v in values)
            )
    for name, label in (
        ("category", "分类"),
        ("category_exact", "分类（仅本级）"),
        ("department", "责任部门"),
        ("branch", "机构"),
        ("region", "地区"),
        ("product", "产品"),
        ("handler", "经办人"),
        ("customer", "客户"),
    ):
        value = getattr(f, name)
        if value:
            out.append(f"{label}：{selectors.NONE_LABEL if value == selectors.NONE else value}")
    return out


@analyst_required
def kpi_page(request: HttpRequest) -> HttpResponse:
    f = _filters(request, default_days=90)
    group = request.GET.get("group") or "department"
    if group not in ("department", "branch", "handler"):
        group = "department"
    overall, rows = kpis.compute_kpis_with_overall(f, group, user=request.user)
    for r in rows:
        r["url"] = drill_url(r["params"])
    overall["url"] = drill_url(overall.get("params"))
    if request.GET.get("export") in ("csv", "xlsx"):
        header = ["名称"] + [k.name for k in kpis.KPIS]
        table = [[r["label"]] + [r.get(k.code) for k in kpis.KPIS] for r in [*rows, overall]]
        return export_table(f"kpi-{group}", header, table, request.GET["export"])
    stages = kpis.stage_timeliness(f, None, user=request.user).get("", {})

    return render(
        request,
        "analytics/kpis.html",
        {
            "f": f,
            "group": group,
            "rows": rows,
            "overall": overall,
            "kpis": kpis.KPIS,
            "stages": [(stage_label(s), v) for s, v in sorted(stages.items())],
            "choices": _choices(),
            "query": request.GET.urlencode(),
        },
    )


HOTSPOT_DIMS = [
    ("category", gettext_noop("一级分类")),
    ("subcategory", gettext_noop("问题（二级分类）")),
    ("product", gettext_noop("产品")),
    ("branch", gettext_noop("机构")),
    ("region", gettext_noop("地区")),
    ("channel", gettext_noop("渠道")),
]


@analyst_required
def hotspots(request: HttpRequest) -> HttpResponse:
    text = request.GET.get("period") or _today().strftime("%Y-%m")
    try:
        period = Period.parse(text)
    except (ValueError, TypeError):
        period = Period.of("month", _today())
    base = StatFilters.from_params(request.GET)
    base.date_from = base.date_to = None
    n = int(request.GET.get("n") or 10)
    customer_base = int(request.GET["customers"]) if (request.GET.get("customers") or "").isdigit() else None
    tables = []
    for dim, label in HOTSPOT_DIMS:
        rows = selectors.compare(base, period, dim, user=request.user, customer_base=customer_base)[:n]
        tables.append({"dim": dim, "label": label, "rows": _with_urls(rows)})
    export = request.GET.get("export")
    if export:
        dim, fmt = export.split(".", 1) if "." in export else (export, "csv")
        table = next((t for t in tables if t["dim"] == dim), None)
        if table is None:
            raise Http404
        header = ["名称", "本期", "上期", "环比%", "去年同期", "同比%", "占比%", "万户投诉率"]
        body = [
            [
                r["label"],
                r["count"],
                r["previous"],
                r["mom_pct"],
                r["year_ago"],
                r["yoy_pct"],
                r["share_pct"],
                r["per_10k"],
            ]
            for r in table["rows"]
        ]
        return export_table(f"top-{dim}-{period.start}", header, body, fmt)
    current = base.with_period(period)
    complainers = selectors.repeat_complainers(current, user=request.user)
    _with_urls(complainers)
    flags = selectors.special_lists(current, user=request.user)
    for item in flags.values():
        item["url"] = drill_url(item["params"])
    pareto = selectors.pareto(current, "subcategory", user=request.user)
    _with_urls(pareto["rows"])
    return render(
        request,
        "analytics/hotspots.html",
        {
            "period": period,
            "period_text": text,
            "tables": tables,
            "complainers": complainers,
            "flags": flags,
            "pareto": pareto,
            "n": n,
            "customers": customer_base or "",
            "query": request.GET.urlencode(),
        },
    )


def export_table(name: str, header: list, rows: list[list], fmt: str) -> HttpResponse:
    """CSV (UTF-8 with BOM, opens in Excel) or XLSX download of a table."""
    if fmt == "xlsx":
        from openpyxl import Workbook

        wb = Workbook()
        ws = wb.active
        ws.append(header)
        for r in rows:
            ws.append(safe_row(r))
        buf = io.BytesIO()
        wb.save(buf)
        response = HttpResponse(buf.getvalue(), content_type=reports.CONTENT_TYPES["xlsx"])
    else:
        buf = io.StringIO()
        buf.write("\ufeff")
        writer = csv_writer(buf)
        writer.writerow(header)
        writer.writerows(rows)
        response = HttpResponse(buf.getvalue().encode("utf-8"), content_type="text/csv; charset=utf-8")
        fmt = "csv"
    response["Content-Disposition"] = f'attachment; filename="{name}.{fmt}"'
    return response


@analyst_required
def measures(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        case_numbers = [
            n.strip() for n in request.POST.get("cases", "").replace("，", ",").split(",") if n.strip()
        ]
        cases = list(
            selectors.case_queryset(StatFilters(), user=request.user).filter(number__in=case_numbers)
        )
        data = {k: v for k, v in request.POST.dict().items() if k != "csrfmiddlewaretoken"}
        try:
            measure = services.create_measure(actor=request.user, data=data, cases=cases)
        except DomainError as exc:
            # Kept on the page (never a redirect carrying the form, and its CSRF token, in the URL);
            # each problem named by the field's label.
            errors = {k: str(v) for k, v in (exc.details or {}).items()}
            summary = "；".join(f"{MEASURE_FIELD_LABELS.get(k, k)}：{v}" for k, v in errors.items())
            return _measures_page(
                request, initial=data, errors=errors, error=f"{exc.message}：{summary}", status=400
            )
        messages.success(request, _("已创建整改措施：%(t)s") % {"t": measure.title})
        return redirect("analytics:measure", pk=measure.pk)
    return _measures_page(request, initial=request.GET)


# The measure form's fields by name, for error messages that name them as the form does.
MEASURE_FIELD_LABELS = {
    "title": gettext_lazy("标题"),
    "root_cause": gettext_lazy("根本原因"),
    "measure": gettext_lazy("整改措施"),
    "category": gettext_lazy("针对分类"),
    "branch": gettext_lazy("针对机构"),
    "product": gettext_lazy("针对产品"),
    "department": gettext_lazy("责任部门"),
    "owner": gettext_lazy("责任人"),
    "due_date": gettext_lazy("完成期限"),
    "cases": gettext_lazy("关联案件编号（逗号分隔）"),
}


def _measures_page(request, *, initial, errors=None, error="", status=200) -> HttpResponse:
    items = ImprovementMeasure.objects.select_related("owner", "department", "category", "branch").order_by(
        "state", "due_date"
    )
    today = _today()
    from django.contrib.auth import get_user_model

    return render(
        request,
        "analytics/measures.html",
        {
            "items": items,
            "today": today,
            "initial": initial,
            "errors": errors or {},
            "error": error,
            "labels": MEASURE_FIELD_LABELS,
            "choices": _choices(),
            "people": get_user_model().objects.filter(is_active=True).order_by("username"),
        },
        status=status,
    )


@analyst_required
def measure_detail(request: HttpRequest, pk: int) -> HttpResponse:
    measure = get_object_or_404(
        ImprovementMeasure.objects.select_related("owner", "category", "branch"), pk=pk
    )
    if request.method == "POST":
        try:
            services.update_state(
                measure, request.POST.get("state", ""), evidence=request.POST.get("evidence", "")
            )
            messages.success(request, _("已更新状态"))
        except DomainError as exc:
            messages.error(request, str(exc))
        return redirect("analytics:measure", pk=pk)
    effect = services.evaluate_effect(measure)
    effect["before_url"] = drill_url(effect["before_params"])
    effect["after_url"] = drill_url(effect["after_params"])
    return render(
        request,
        "analytics/measure.html",
        {
            "m": measure,
            "effect": effect,
            "states": ImprovementMeasure.State.choices,
            "cases": measure.cases.all()[:50],
            "may_approve": measure.state == ImprovementMeasure.State.PENDING_APPROVAL
            and services.may_approve(request.user),
        },
    )


@analyst_required
def measure_approve(request: HttpRequest, pk: int) -> HttpResponse:
    """POST: the general manager approves a pending measure (001 篇9 3.1.2); others are refused."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    if not services.may_approve(request.user):
        raise PermissionDenied(_("只有总经理可以审批整改措施"))
    measure = get_object_or_404(ImprovementMeasure, pk=pk)
    services.approve_measure(measure, actor=request.user)
    messages.success(request, _("已批准整改措施：%(t)s") % {"t": measure.title})
    return redirect("analytics:measure", pk=pk)


@analyst_required
def report_archive(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        kind = request.POST.get("kind", "monthly")
        fmt = request.POST.get("format", "pdf")
        if kind not in ReportKind.values or fmt not in ReportFormat.values:
            raise Http404
        text = request.POST.get("period") or ""
        try:
            period = Period.parse(text) if text else reports.default_period(kind)
        except (ValueError, TypeError):
            messages.error(request, _("无效的期间：%(p)s") % {"p": text})
            return redirect("analytics:reports")
        report = reports.generate(kind, period, fmt, actor=request.user)
        messages.success(
            request, _("已生成：%(t)s（%(f)s）") % {"t": report.title, "f": report.format.upper()}
        )
        return redirect("analytics:reports")
    return render(
        request,
        "analytics/reports.html",
        {
            "items": GeneratedReport.objects.all()[:200],
            "kinds": ReportKind.choices,
            "formats": ReportFormat.choices,
        },
    )


@analyst_required
def report_download(request: HttpRequest, pk: int):
    report = get_object_or_404(GeneratedReport, pk=pk)
    try:
        handle = reports.open_report(report)
    except FileNotFoundError:
        raise Http404(_("报告文件不存在"))
    inline = report.format in ("html", "pdf") and request.GET.get("download") is None
    return FileResponse(
        handle,
        as_attachment=not inline,
        filename=f"{report.title}.{report.format}",
        content_type=reports.CONTENT_TYPES[report.format],
    )


@analyst_required
def report_preview(request: HttpRequest) -> HttpResponse:
    """The HTML report of a period rendered on the fly (not archived)."""
    kind = request.GET.get("kind", "monthly")
    if kind not in ReportKind.values:
        raise Http404
    text = request.GET.get("period") or ""
    period = Period.parse(text) if text else reports.default_period(kind)
    data = reports.build_report(kind, period, user=request.user)
    existing = GeneratedReport.objects.filter(kind=kind, period_start=period.start).order_by("-generated_at")
    downloads = {
        "action": reverse("analytics:reports"),
        "archive": reverse("analytics:reports"),
        "csrf": get_token(request),
        "kind": kind,
        "period": text,
        "formats": [(v, _("生成 %(f)s") % {"f": str(label)}) for v, label in ReportFormat.choices],
        "existing": [
            {
                "url": reverse("analytics:report_download", args=[g.pk]) + "?download=1",
                "label": _("下载 %(f)s（%(t)s 生成）")
                % {
                    "f": g.get_format_display(),
                    "t": timezone.localtime(g.generated_at).strftime("%m-%d %H:%M"),
                },
            }
            for g in existing[:6]
        ],
    }
    return HttpResponse(reports.render_html(data, downloads=downloads))


@analyst_required
def jrt_export(request: HttpRequest) -> HttpResponse:
    """Complaints per JR/T 0169-2018 code combination (channel × business type × cause) for a period, on
    screen or as CSV/XLSX (`?format=`); cases with an axis missing are counted under 未编码."""
    text = (request.GET.get("period") or "").strip()
    try:
        period = Period.parse(text) if text else Period.of("month", _today()).previous()
    except (ValueError, TypeError):
        messages.error(request, _("无效的期间：%(p)s") % {"p": text})
        period = Period.of("month", _today()).previous()
    context: dict = {"period": period, "period_text": text or period.start.strftime("%Y-%m")}
    try:
        table = jrt.axis_counts(period, user=request.user)
    except Conflict as exc:  # not a financial policy: said on the page, not a redirect loop
        context["not_financial"] = exc.message
        return render(request, "analytics/jrt.html", context)
    fmt = request.GET.get("format")
    if fmt in ("csv", "xlsx"):
        content, content_type, name = jrt.render(table, fmt)
        response = HttpResponse(content, content_type=content_type)
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response
    # Names on screen (no raw codes); the files carry the codes too.
    context["table"] = table
    return render(request, "analytics/jrt.html", context)
