"""The monthly report: findings that match the statistics they cite, and a PDF with Chinese text."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings

from kesu.analytics import kpis, reports, selectors
from kesu.analytics.models import GeneratedReport, ReportSubscription
from kesu.analytics.periods import Period
from kesu.analytics.selectors import StatFilters
from tests.analytics import demo
from tests.analytics.util import at

pytestmark = pytest.mark.django_db

NOVEMBER = Period.parse("2025-11")
NOW = at(2025, 12, 2, 9)
ARTIFACTS = Path(settings.BASE_DIR) / "var" / "test-artifacts" / "analytics"


@pytest.fixture
def data(org, tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path
    demo.build(org)
    return reports.build_report("monthly", NOVEMBER, now=NOW)


def numbers_in(text: str) -> list[float]:
    return [float(n) for n in re.findall(r"\d+(?:\.\d+)?", text)]


def test_findings_match_the_statistics_they_cite(data):
    complaints = StatFilters(kind=["complaint"])
    findings = {f["figure"]: f for f in data["findings"]}

    # Headline: November 24 complaints + the group complaint; October 21.
    head = findings["headline.count"]
    nov = selectors.case_queryset(complaints.with_period(NOVEMBER)).count()
    oct_ = selectors.case_queryset(complaints.with_period(NOVEMBER.previous())).count()
    assert (nov, oct_) == (25, 21)
    assert head["values"]["count"] == nov and head["values"]["previous"] == oct_
    assert f"共接收投诉 {nov} 件" in head["text"]
    assert f"环比上升 {(nov - oct_) * 100 / oct_:.1f}%" in head["text"]

    # 服务质量 rose from 5 to 11 (+120%), mostly in 华东分公司 (9).
    service = findings["by_category:service"]
    assert service["text"].startswith("服务质量类投诉环比上升 120.0%")
    assert "主要集中在华东分公司（9 件）" in service["text"]
    in_east = selectors.case_queryset(
        complaints.with_period(NOVEMBER).overlay({"category": "service", "branch": "EAST"})
    ).count()
    assert in_east == service["values"]["branch_count"] == 9
    assert selectors.case_queryset(StatFilters.from_params(service["params"])).count() == 11

    # 收费计费 fell from 5 to 2 (−60%).
    billing = findings["by_category:billing"]
    assert "收费计费类投诉环比下降 60.0%（5 件 → 2 件）" in billing["text"]

    # The closing rate sentence equals the KPI computed on its own.
    closing = findings["kpi.closing_rate"]
    expected = kpis.overall(complaints.with_period(NOVEMBER), now=NOW)["closing_rate"]
    assert closing["values"]["closing_rate"] == expected
    assert f"办结率 {expected:.1f}%" in closing["text"]

    group = findings["flags.group"]
    assert group["values"]["count"] == 1 and "群体投诉 1 件" in group["text"]

    # Every finding states only numbers found among its values (or the period's own figures).
    for f in data["findings"]:
        allowed = set()
        for v in f["values"].values():
            if isinstance(v, int | float) and not isinstance(v, bool):
                allowed |= {abs(float(v)), round(abs(float(v)), 1)}
        stated = [n for n in numbers_in(f["text"]) if n not in (80.0,)]
        assert all(n in allowed for n in stated if f["figure"] != "pareto" or n != 0), (
            f["text"],
            f["values"],
        )


def _render_page1(pdf: Path, png_base: Path) -> Path:
    subprocess.run(
        ["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", str(pdf), str(png_base)], check=True
    )
    candidates = sorted(png_base.parent.glob(png_base.name + "*.png"))
    assert candidates, "pdftoppm wrote no page"
    return candidates[0]


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="poppler-utils (pdftoppm) is not installed")
def test_monthly_pdf_renders_chinese(data, org, tmp_path):
    report = reports.generate("monthly", NOVEMBER, "pdf", actor=org.analyst, now=NOW)
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(reports.read_report(report))
    assert pdf.read_bytes().startswith(b"%PDF")
    assert report.title == "2025年11月投诉分析月报"
    text = subprocess.run(["pdftotext", "-l", "1", str(pdf), "-"], capture_output=True, text=True).stdout
    assert "投诉分析月报" in text and "分析结论" in text
    fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True).stdout
    assert re.search(r"CJK|WenQuanYi|Noto Sans SC", fonts), fonts

    from PIL import Image

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    png = _render_page1(pdf, tmp_path / "page")
    saved = ARTIFACTS / "monthly-report-page1.png"
    shutil.copy(png, saved)
    image = Image.open(saved).convert("L")
    dark = sum(image.histogram()[:128])
    assert dark > image.width * image.height * 0.01, "page 1 is blank"


def test_html_and_xlsx_reports_and_archive(data, org):
    html = reports.generate("monthly", NOVEMBER, "html", now=NOW)
    body = reports.read_report(html).decode("utf-8")
    assert "服务质量类投诉环比上升 120.0%" in body
    xlsx = reports.generate("monthly", NOVEMBER, "xlsx", now=NOW)
    from openpyxl import load_workbook

    wb = load_workbook(io.BytesIO(reports.read_report(xlsx)))
    assert {"概览", "按分类", "部门指标", "指标定义"} <= set(wb.sheetnames)
    rows = {r[0].value: r[1].value for r in wb["按分类"].iter_rows(min_row=2)}
    assert rows["服务质量"] == 11
    assert GeneratedReport.objects.filter(kind="monthly", period_start=NOVEMBER.start).count() == 2


def test_scheduled_report_is_mailed_to_subscribers(org, settings, tmp_path, mailoutbox):
    settings.MEDIA_ROOT = tmp_path
    demo.build(org)
    ReportSubscription.objects.create(kind="monthly", user=org.manager, format="pdf")
    ReportSubscription.objects.create(kind="weekly", email="other@example.test", format="pdf")
    from kesu.analytics.tasks import generate_periodic_report

    result = generate_periodic_report.call("monthly", "2025-11", formats=["pdf"])
    assert len(result) == 1
    assert len(mailoutbox) == 1
    assert mailoutbox[0].to == ["manager@example.test"]
    assert mailoutbox[0].attachments[0][0].endswith(".pdf")
    assert "2025年11月投诉分析月报" in mailoutbox[0].subject


def test_scheduled_reports_are_archived_and_mailed_once_however_often_the_task_runs(
    org, settings, tmp_path, mailoutbox
):
    settings.MEDIA_ROOT = tmp_path
    ReportSubscription.objects.create(kind="daily", user=org.manager, format="html")
    from kesu.analytics.tasks import generate_periodic_report

    first = generate_periodic_report.call("daily", "2025-11-05", formats=["html"])
    again = generate_periodic_report.call("daily", "2025-11-05", formats=["html"])  # a requeued task
    assert first == again
    assert GeneratedReport.objects.filter(kind="daily").count() == 1
    assert len(mailoutbox) == 1
    assert sorted(p.name for p in (tmp_path / "reports").iterdir()) == [
        GeneratedReport.objects.get().file_name
    ]


def test_a_race_to_archive_keeps_one_report_and_one_file(org, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    period = Period.parse("2025-11-05")
    one, created = reports.generate_once("daily", period, "html", schedule_key="daily:2025-11-05:html")
    other, created_again = reports.generate_once(
        "daily", period, "html", schedule_key="daily:2025-11-05:html"
    )
    assert created and not created_again and other.pk == one.pk
    assert [p.name for p in (tmp_path / "reports").iterdir()] == [one.file_name]


def test_missed_days_weeks_and_months_are_made_up(org, settings, tmp_path):
    """The scheduler, a worker or the host was down: the next run finds every missing period of the
    window, not only yesterday's."""
    import datetime as dt

    from kesu.analytics.tasks import due_reports
    from tests import factories

    settings.MEDIA_ROOT = tmp_path
    factories.make_case(org.intake, received_at=at(2025, 10, 1, 9))
    today = dt.date(2025, 12, 3)  # a Wednesday
    due = due_reports(today)
    assert [p for k, p in due if k == "daily"] == [f"2025-11-{d:02d}" for d in range(26, 31)] + [
        "2025-12-01",
        "2025-12-02",
    ]
    assert [p for k, p in due if k == "weekly"] == ["2025-11-17", "2025-11-24"]
    assert [p for k, p in due if k == "monthly"] == ["2025-10", "2025-11"]

    reports.generate("daily", Period.parse("2025-11-28"), "html")
    reports.generate("monthly", Period.parse("2025-11"), "html")
    due = due_reports(today)
    assert ("daily", "2025-11-28") not in due and ("monthly", "2025-11") not in due
    assert ("daily", "2025-11-27") in due and ("monthly", "2025-10") in due


def test_a_new_installation_gets_only_the_latest_periods(org):
    import datetime as dt

    from kesu.analytics.tasks import due_reports

    assert due_reports(dt.date(2025, 12, 3)) == [
        ("monthly", "2025-11"),
        ("weekly", "2025-11-24"),
        ("daily", "2025-12-02"),
    ]
