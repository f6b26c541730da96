"""Complaint analysis reports (投诉分析日报/周报/月报/季报/年报): data, findings, HTML, PDF and XLSX.

Quarterly and annual reports are produced when the policy asks for them (`[reports.quarterly]`,
`[reports.annual]`: the securities annual report by 30 April, 000 第7篇 第二十一条; the telecom regulator's
quarterly statistics, 003 电信用户申诉 第七条); the report states to whom and by when it is filed.

`build_report` gathers every figure from the statistics engine; `render_*` turn the same
data into a document; `generate` writes the file into the archive (`GeneratedReport`) and
`send_to_subscribers` mails it. The files live in Django's default storage as `reports/<name>`
(`settings.STORAGES`: shared by every host), read back with `open_report` / `read_report`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
from typing import IO, Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import timezone

from kesu.analytics import findings as findings_mod
from kesu.analytics import kpis, selectors, svg
from kesu.analytics.models import (
    GeneratedReport,
    ImprovementMeasure,
    ReportFormat,
    ReportKind,
    ReportSubscription,
)
from kesu.analytics.periods import SHANGHAI, Period
from kesu.analytics.selectors import StatFilters
from kesu.cases.models import OPEN_STATUSES, Case, Level
from kesu.cases.spreadsheet import safe_row
from kesu.org.i18n import display_name, row_name
from kesu.policy.selectors import NoActivePolicy, active_rules
from kesu.sla.notify import stable_message_id

UNIT_OF_KIND = {
    ReportKind.DAILY: "day",
    ReportKind.WEEKLY: "week",
    ReportKind.MONTHLY: "month",
    ReportKind.QUARTERLY: "quarter",
    ReportKind.ANNUAL: "year",
}
# The trend of each report: bucket and number of buckets up to the period's end.
TREND = {
    "day": ("day", 14),
    "week": ("week", 8),
    "month": ("month", 12),
    "quarter": ("month", 12),
    "year": ("month", 24),
}


STORAGE_PREFIX = "reports/"


def default_period(kind: str, today: dt.date | None = None) -> Period:
    """The last complete period: yesterday, last week, last month."""
    today = today or timezone.now().astimezone(SHANGHAI).date()
    unit = UNIT_OF_KIND[kind]
    return Period.of(unit, today).previous()


def build_report(
    kind: str,
    period: Period,
    *,
    base: StatFilters | None = None,
    now: dt.datetime | None = None,
    customer_base: int | None = None,
    user=None,
) -> dict[str, Any]:
    """Every figure of the report (counts and trends from the daily-count rollup when it accounts for
    the report's days, see `kesu.analytics.rollups`; the rest over the live tables)."""
    from kesu.analytics.rollups import report_scope

    with report_scope():
        return _build_report(kind, period, base=base, now=now, customer_base=customer_base, user=user)


def _build_report(
    kind: str,
    period: Period,
    *,
    base: StatFilters | None,
    now: dt.datetime | None,
    customer_base: int | None,
    user,
) -> dict[str, Any]:
    now = now or timezone.now()
    base = base or StatFilters(kind=["complaint"])
    current = base.with_period(period)
    headline_rows = selectors.compare(base, period, None, user=user, customer_base=customer_base)
    headline = (
        headline_rows[0]
        if headline_rows
        else {
            "count": 0,
            "previous": 0,
            "year_ago": 0,
            "mom_pct": None,
            "yoy_pct": None,
            "per_10k": None,
        }
    )
    headline["params"] = current.to_params()

    by_category = selectors.compare(base, period, "category", user=user, customer_base=customer_base)
    by_subcategory = selectors.compare(base, period, "subcategory", user=user)[:10]
    by_branch = selectors.compare(base, period, "branch", user=user)[:10]
    by_product = [r for r in selectors.compare(base, period, "product", user=user) if r["key"] != "__none__"][
        :10
    ]
    by_channel = selectors.compare(base, period, "channel", user=user)
    by_region = [r for r in selectors.compare(base, period, "region", user=user) if r["key"] != "__none__"][
        :10
    ]

    # Where each top-level category concentrates (branch with the most cases), one GROUP BY.
    category_branches: dict[str, list[dict]] = {}
    for row in selectors.count_by(current, ["category", "branch"], user=user):
        category_branches.setdefault(row["category"], []).append(
            {"key": row["branch"], "label": row["branch_label"], "count": row["count"]}
        )
    for rows in category_branches.values():
        rows.sort(key=lambda r: (-r["count"], r["key"]))

    unit, length = TREND[period.unit] if period.unit in TREND else ("day", 31)
    trend_start = period.start
    for _ in range(length - 1):
        trend_start = Period.of(unit, trend_start).previous().start
    trend = selectors.trend(
        StatFilters(**{**base.__dict__, "date_from": trend_start, "date_to": period.last_day}),
        unit,
        user=user,
    )

    # The period's KPIs overall and by department from one set of grouped queries (the overall counts
    # are the departments' sums), and the previous period's overall.
    kpi_now, kpi_by_dept = kpis.compute_kpis_with_overall(current, "department", user=user, now=now)
    kpi_prev = kpis.overall(base.with_period(period.previous()), user=user, now=now)
    flags = selectors.special_lists(current, user=user, now=now)
    pareto = selectors.pareto(current, "subcategory", user=user)

    visible = selectors.case_queryset(StatFilters(), user=user, now=now)
    overdue_qs = visible.filter(status__in=OPEN_STATUSES, due_at__lt=now)
    overdue_total = overdue_qs.count()
    overdue = list(
        overdue_qs.select_related("department", "category")
        .order_by("due_at")[:20]
        .values(
            "number",
            "subject",
            "level",
            "department__name",
            "department__name_en",
            "category__name",
            "category__name_en",
            "due_at",
            "status",
        )
    )
    major = list(
        selectors.case_queryset(current, user=user)
        .filter(level__in=[Level.MAJOR, Level.CRISIS])
        .order_by("-received_at")[:20]
        .values(
            "number",
            "subject",
            "level",
            "department__name",
            "department__name_en",
            "category__name",
            "category__name_en",
            "received_at",
            "status",
        )
    )
    for row in overdue + major:
        row["level_label"] = str(dict(Level.choices).get(row["level"], row["level"]))
        for key in ("due_at", "received_at"):
            if row.get(key):
                row[key] = row[key].astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")

    measures = []
    horizon = period.end + dt.timedelta(days=14)
    for m in (
        ImprovementMeasure.objects.filter(state__in=["planned", "in_progress"], due_date__lte=horizon)
        .select_related("owner", "department", "category")
        .order_by("due_date")[:30]
    ):
        measures.append(
            {
                "id": m.pk,
                "title": m.title,
                "owner": (m.owner.get_full_name() or m.owner.username) if m.owner_id else "",
                "department": display_name(m.department),
                "due_date": m.due_date.isoformat(),
                "state": m.get_state_display(),
                "overdue": m.due_date < now.astimezone(SHANGHAI).date(),
            }
        )
    from kesu.analytics.services import evaluate_effect

    evaluated = []
    for m in ImprovementMeasure.objects.filter(
        state="done", completed_on__gte=period.start - dt.timedelta(days=120)
    ).order_by("completed_on")[:10]:
        effect = evaluate_effect(m, today=now.astimezone(SHANGHAI).date())
        if effect["complete"]:
            evaluated.append(
                {
                    "id": m.pk,
                    "title": m.title,
                    "verdict": effect["verdict"],
                    "values": {
                        "before": effect["before"],
                        "after": effect["after"],
                        "effective": effect["effective"],
                    },
                }
            )

    data: dict[str, Any] = {
        "kind": kind,
        "kind_label": str(ReportKind(kind).label),
        "title": f"{period.label}{ReportKind(kind).label}",
        "period": period,
        "period_label": period.label,
        "period_short": period.short,
        "previous_label": period.previous().label,
        "generated_at": now.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M"),
        "headline": headline,
        "customer_base": customer_base,
        "by_category": by_category,
        "by_subcategory": by_subcategory,
        "by_branch": by_branch,
        "by_product": by_product,
        "by_channel": by_channel,
        "by_region": by_region,
        "category_branches": category_branches,
        "trend": trend,
        "kpi": kpi_now,
        "kpi_previous": kpi_prev,
        "kpi_by_department": kpi_by_dept,
        "kpi_definitions": kpis.KPIS,
        "flags": flags,
        "pareto": pareto,
        "overdue": overdue,
        "overdue_total": overdue_total,
        "major": major,
        "measures": measures,
        "measures_evaluated": evaluated,
    }
    data["filing"] = filing(kind, period, today=now.astimezone(SHANGHAI).date())
    flags["overdue"]["params"] = {"flag": "overdue"}
    data["findings"] = findings_mod.generate(data)
    return data


def filing(kind: str, period: Period, *, today: dt.date) -> dict[str, Any] | None:
    """To whom and by when the policy says a period's report is filed (quarterly and annual reports), or
    None: `{"recipient", "due_on", "seed", "late"}` (late: the report is made after its due date)."""
    try:
        rules = active_rules()
    except NoActivePolicy:
        return None
    due = rules.report_due_date(kind, period.last_day)
    if due is None:
        return None
    spec = rules.periodic_reports()[kind]
    return {
        "recipient": rules.report_recipient(kind),
        "due_on": due,
        "seed": spec.get("seed", ""),
        "late": today > due,
    }


# --- rendering -------------------------------------------------------------------------------


def charts_svg(data: dict[str, Any]) -> dict[str, str]:
    trend = data["trend"]
    series = [(s["name"], s["data"]) for s in trend["series"][:1]]
    monthly = TREND.get(data["period"].unit, ("day", 0))[0] == "month"
    labels = [b[:7] if monthly else b[5:] for b in trend["buckets"]]
    cats = data["by_category"][:10]
    pareto_rows = data["pareto"]["rows"][:12]
    branches = data["by_branch"][:10]
    return {
        "trend": svg.data_uri(svg.line_chart(labels, series)),
        "category": svg.data_uri(svg.bar_chart([r["label"] for r in cats], [r["count"] for r in cats])),
        "pareto": svg.data_uri(
            svg.pareto_chart(
                [r["label"] for r in pareto_rows],
                [r["count"] for r in pareto_rows],
                [r["cumulative_pct"] for r in pareto_rows],
            )
        ),
        "branch": svg.data_uri(
            svg.bar_chart([r["label"] for r in branches], [r["count"] for r in branches], color=svg.COLORS[1])
        ),
    }


def render_html(data: dict[str, Any], *, for_pdf: bool = False, downloads: dict | None = None) -> str:
    """The report as HTML (also the PDF's source). `downloads`: the preview's links to the files."""
    rows = [data.get("kpi") or {}, *(data.get("kpi_by_department") or [])]
    listed = [*(data.get("overdue") or []), *(data.get("major") or [])]
    return render_to_string(
        "analytics/report.html",
        {
            "r": data,
            "charts": charts_svg(data),
            "for_pdf": for_pdf,
            # Columns with nothing in them are left out (a KPI no case measured, no titles, no branches).
            "kpi_columns": [c for c in KPI_TABLE_COLUMNS if any(row.get(c) is not None for row in rows)],
            "show_subject": any(c.get("subject") for c in listed),
            "show_branch": any(
                b and b[0].get("key") != "__none__" for b in (data.get("category_branches") or {}).values()
            ),
            "downloads": downloads,
        },
    )


def render_pdf(data: dict[str, Any]) -> bytes:
    from weasyprint import HTML

    return HTML(string=render_html(data, for_pdf=True), base_url=str(settings.BASE_DIR)).write_pdf()


KPI_TABLE_COLUMNS = [
    "volume",
    "closing_rate",
    "first_contact_timeliness",
    "resolution_timeliness",
    "first_contact_resolution",
    "repeat_rate",
    "satisfaction_rate",
    "avg_close_hours",
    "overdue_open",
]


def render_xlsx(data: dict[str, Any]) -> bytes:
    from openpyxl import Workbook
    from openpyxl.chart import BarChart, LineChart, Reference
    from openpyxl.styles import Font

    wb = Workbook()
    ws = wb.active
    ws.title = "概览"
    bold = Font(bold=True)
    ws.append(safe_row([data["title"]]))
    ws["A1"].font = Font(bold=True, size=14)
    ws.append(safe_row(["生成时间", data["generated_at"]]))
    if data.get("filing"):
        f = data["filing"]
        ws.append(safe_row(["报送", f["recipient"], "报送期限", f["due_on"].isoformat(), f["seed"]]))
    h = data["headline"]
    ws.append(safe_row([]))
    ws.append(safe_row(["指标", "本期", "上期", "环比%", "去年同期", "同比%"]))
    ws.append(safe_row(["投诉量", h["count"], h["previous"], h["mom_pct"], h["year_ago"], h["yoy_pct"]]))
    for code in KPI_TABLE_COLUMNS[1:]:
        kpi = kpis.KPI_BY_CODE[code]
        ws.append(safe_row([kpi.name, data["kpi"].get(code), data["kpi_previous"].get(code)]))
    ws.append(safe_row([]))
    ws.append(safe_row(["分析结论"]))
    for f in data["findings"]:
        ws.append(safe_row([f["text"]]))

    def table(title: str, rows: list[dict], with_chart: bool = False) -> None:
        sheet = wb.create_sheet(title)
        sheet.append(safe_row(["名称", "本期", "上期", "环比%", "去年同期", "同比%", "占比%"]))
        for c in sheet[1]:
            c.font = bold
        for r in rows:
            sheet.append(
                safe_row(
                    [
                        r["label"],
                        r["count"],
                        r["previous"],
                        r["mom_pct"],
                        r["year_ago"],
                        r["yoy_pct"],
                        r["share_pct"],
                    ]
                )
            )
        if with_chart and rows:
            chart = BarChart()
            chart.title = title
            chart.add_data(
                Reference(sheet, min_col=2, min_row=1, max_row=len(rows) + 1), titles_from_data=True
            )
            chart.set_categories(Reference(sheet, min_col=1, min_row=2, max_row=len(rows) + 1))
            sheet.add_chart(chart, "I2")

    table("按分类", data["by_category"], True)
    table("按问题", data["by_subcategory"])
    table("按机构", data["by_branch"], True)
    table("按产品", data["by_product"])
    table("按渠道", data["by_channel"])

    trend = wb.create_sheet("趋势")
    trend.append(safe_row(["时间", "投诉量"]))
    series = data["trend"]["series"][0]["data"] if data["trend"]["series"] else []
    for bucket, value in zip(data["trend"]["buckets"], series, strict=False):
        trend.append(safe_row([bucket, value]))
    if series:
        chart = LineChart()
        chart.title = "投诉趋势"
        chart.add_data(Reference(trend, min_col=2, min_row=1, max_row=len(series) + 1), titles_from_data=True)
        chart.set_categories(Reference(trend, min_col=1, min_row=2, max_row=len(series) + 1))
        trend.add_chart(chart, "D2")

    sheet = wb.create_sheet("部门指标")
    sheet.append(safe_row(["部门"] + [kpis.KPI_BY_CODE[c].name for c in KPI_TABLE_COLUMNS]))
    for r in data["kpi_by_department"]:
        sheet.append(safe_row([r["label"]] + [r.get(c) for c in KPI_TABLE_COLUMNS]))
    sheet = wb.create_sheet("指标定义")
    sheet.append(safe_row(["指标", "定义"]))
    for k in kpis.KPIS:
        sheet.append(safe_row([k.name, k.definition]))
    sheet = wb.create_sheet("超时与重大案件")
    sheet.append(safe_row(["类别", "案件编号", "标题", "等级", "部门", "分类", "时间"]))
    for r in data["overdue"]:
        sheet.append(
            safe_row(
                [
                    "超时",
                    r["number"],
                    r["subject"],
                    r["level_label"],
                    row_name(r, "department"),
                    row_name(r, "category"),
                    r["due_at"],
                ]
            )
        )
    for r in data["major"]:
        sheet.append(
            safe_row(
                [
                    "重大",
                    r["number"],
                    r["subject"],
                    r["level_label"],
                    row_name(r, "department"),
                    row_name(r, "category"),
                    r["received_at"],
                ]
            )
        )
    sheet = wb.create_sheet("整改措施")
    sheet.append(safe_row(["措施", "责任部门", "责任人", "期限", "状态", "超期"]))
    for m in data["measures"]:
        sheet.append(
            safe_row(
                [
                    m["title"],
                    m["department"],
                    m["owner"],
                    m["due_date"],
                    m["state"],
                    "是" if m["overdue"] else "",
                ]
            )
        )
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def render(data: dict[str, Any], fmt: str) -> bytes:
    if fmt == ReportFormat.PDF:
        return render_pdf(data)
    if fmt == ReportFormat.XLSX:
        return render_xlsx(data)
    return render_html(data).encode("utf-8")


CONTENT_TYPES = {
    "html": "text/html; charset=utf-8",
    "pdf": "application/pdf",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def generate(
    kind: str,
    period: Period,
    fmt: str,
    *,
    actor=None,
    now: dt.datetime | None = None,
    customer_base: int | None = None,
    schedule_key: str | None = None,
) -> GeneratedReport:
    """Build, render and archive one report file."""
    return generate_once(
        kind, period, fmt, actor=actor, now=now, customer_base=customer_base, schedule_key=schedule_key
    )[0]


def generate_once(
    kind: str,
    period: Period,
    fmt: str,
    *,
    actor=None,
    now: dt.datetime | None = None,
    customer_base: int | None = None,
    schedule_key: str | None = None,
) -> tuple[GeneratedReport, bool]:
    """`generate`, and whether this call archived the report. With a `schedule_key` (scheduled
    reports) the archive holds one report per key: when another run archived it first, that one is
    returned (False) and this run's file is removed again."""
    data = build_report(kind, period, now=now, customer_base=customer_base)
    content = render(data, fmt)
    stamp = timezone.now().strftime("%Y%m%d%H%M%S%f")
    name = f"{kind}-{period.start.isoformat()}-{stamp}.{fmt}"
    saved = default_storage.save(STORAGE_PREFIX + name, ContentFile(content, name=name))
    name = saved.removeprefix(STORAGE_PREFIX)
    try:
        with transaction.atomic():
            return _archive(kind, period, fmt, data, name, content, actor, schedule_key), True
    except IntegrityError:
        default_storage.delete(STORAGE_PREFIX + name)
        existing = GeneratedReport.objects.filter(schedule_key=schedule_key).first()
        if schedule_key is None or existing is None:
            raise
        return existing, False


def _archive(kind, period, fmt, data, name, content, actor, schedule_key) -> GeneratedReport:
    return GeneratedReport.objects.create(
        schedule_key=schedule_key,
        kind=kind,
        format=fmt,
        period_start=period.start,
        period_end=period.end,
        title=data["title"],
        file_name=name,
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        findings=[{k: f[k] for k in ("text", "figure", "values")} for f in data["findings"]],
        generated_by=actor if getattr(actor, "is_authenticated", False) else None,
        due_on=(data.get("filing") or {}).get("due_on"),
    )


def report_storage_name(report: GeneratedReport) -> str:
    return STORAGE_PREFIX + report.file_name


def report_exists(report: GeneratedReport) -> bool:
    return default_storage.exists(report_storage_name(report))


def open_report(report: GeneratedReport) -> IO[bytes]:
    """The archived file, open for reading (FileNotFoundError when it is missing)."""
    if not report_exists(report):
        raise FileNotFoundError(report_storage_name(report))
    return default_storage.open(report_storage_name(report), "rb")


def read_report(report: GeneratedReport) -> bytes:
    with open_report(report) as fh:
        return fh.read()


def send_to_subscribers(report: GeneratedReport) -> list[str]:
    """Mail the report to the active subscribers of its kind and format."""
    subs = ReportSubscription.objects.filter(kind=report.kind, format=report.format, is_active=True)
    addresses = sorted({s.address for s in subs.select_related("user") if s.address})
    if not addresses:
        return []
    body = report.title + "\n\n" + "\n".join(f"· {f['text']}" for f in report.findings)
    # The same Message-ID on a resend (a report task run twice after a worker died mid-send).
    message = EmailMessage(
        subject=report.title,
        body=body,
        to=addresses,
        headers={"Message-ID": stable_message_id("report", report.pk, report.sha256)},
    )
    message.attach(
        f"{report.title}.{report.format}",
        read_report(report),
        CONTENT_TYPES[report.format].split(";")[0],
    )
    message.send(fail_silently=False)
    report.emailed_to = addresses
    report.save(update_fields=["emailed_to"])
    return addresses


def open_overdue_count(now: dt.datetime | None = None) -> int:
    return Case.objects.filter(status__in=OPEN_STATUSES, due_at__lt=now or timezone.now()).count()
