"""Analytics that tell the truth: month to date against the same days, findings citing sections, a measure
form that keeps its input, report tables whose headers repeat on each PDF page, a preview with downloads."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from kesu.analytics import reports
from kesu.analytics.periods import Period
from tests import factories
from tests.analytics import demo
from tests.analytics.test_reports import NOVEMBER, NOW

pytestmark = pytest.mark.django_db


def test_month_to_date_is_compared_with_the_same_days_of_the_previous_month():
    mtd = Period.month_to_date(dt.date(2026, 12, 7))
    assert (mtd.start, mtd.last_day) == (dt.date(2026, 12, 1), dt.date(2026, 12, 7))
    previous = mtd.previous()
    assert (previous.start, previous.last_day) == (dt.date(2026, 11, 1), dt.date(2026, 11, 7))
    # the 31st of March against the whole of February, no further
    feb = Period.month_to_date(dt.date(2026, 3, 31)).previous()
    assert (feb.start, feb.last_day) == (dt.date(2026, 2, 1), dt.date(2026, 2, 28))


def test_the_dashboard_says_what_it_compares(client, org):
    factories.make_case(org.intake)
    client.force_login(org.analyst)
    page = client.get("/analytics/").content.decode()
    assert re.search(r"本月至今（\d{4}-\d{2}-01 至 \d{4}-\d{2}-\d{2}）", page)
    assert re.search(r"对比上月同期 \d{4}-\d{2}-01 至 \d{4}-\d{2}-\d{2}", page)


@pytest.fixture
def data(org, tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path
    demo.build(org)
    return reports.build_report("monthly", NOVEMBER, now=NOW)


def test_findings_cite_their_section_and_list_every_vital_category(data):
    html = reports.render_html(data)
    assert not re.search(r"\[[a-z_.:]+", html)
    assert "（见一、总体情况）" in html
    (pareto,) = [f for f in data["findings"] if f["figure"] == "pareto"]
    n = pareto["values"]["vital"]
    listed = re.search(r"（(.*?)）合计", pareto["text"]).group(1).split("、")
    assert pareto["text"].startswith(f"前 {n} 类") and len(listed) == n


def test_report_tables_repeat_their_headers_and_drop_empty_columns(data):
    html = reports.render_html(data, for_pdf=True)
    assert "thead { display: table-header-group; }" in html
    assert html.count("<thead>") >= 6
    data = {**data, "overdue": [{**c, "subject": ""} for c in data["overdue"]], "major": []}
    assert ">标题</th>" not in reports.render_html(data)


def test_the_preview_links_to_its_downloads(client, org, data):
    client.force_login(org.analyst)
    page = client.get("/analytics/reports/preview/?kind=monthly&period=2025-11").content.decode()
    assert 'id="report-downloads"' in page and 'name="format" value="pdf"' in page
    assert 'action="/analytics/reports/"' in page


def test_a_failed_measure_keeps_the_form_and_names_fields_by_label(client, org):
    client.force_login(org.analyst)
    r = client.post("/analytics/measures/", {"title": "", "root_cause": "排队时间过长", "due_date": "x"})
    assert r.status_code == 400  # the page itself, not a redirect carrying the form in its URL
    page = r.content.decode()
    assert "排队时间过长" in page
    error = re.search(r'id="measure-error">(.*?)</div>', page).group(1)
    assert "标题：必填" in error and "完成期限" in error and "title" not in error
    assert re.search(r'<form method="post" action="/analytics/measures/"', page)
