"""Drill-down: the number a figure shows equals the length of the case list it links to."""

from __future__ import annotations

import json
import re
from html import unescape
from urllib.parse import urlsplit

import pytest

from kesu.analytics import selectors
from kesu.analytics.periods import Period
from kesu.analytics.selectors import StatFilters
from tests.analytics import demo

pytestmark = pytest.mark.django_db


@pytest.fixture
def analyst_client(client, org):
    demo.build(org)
    client.force_login(org.analyst)
    return client


def list_count(client, url: str) -> int:
    response = client.get(url)
    assert response.status_code == 200, url
    match = re.search(r'id="case-count" data-count="(\d+)"', response.content.decode())
    assert match, url
    count = int(match.group(1))
    rows = response.content.decode().count('class="case-row"')
    assert rows == min(count, 50)  # the list really shows the cases (first page of 50)
    return count


def test_every_dashboard_figure_opens_its_cases(analyst_client):
    response = analyst_client.get("/analytics/?date_from=2025-10-01&date_to=2025-11-30&bucket=month")
    assert response.status_code == 200
    html = response.content.decode()
    data = json.loads(
        unescape(re.search(r'id="analytics-data" type="application/json">(.*?)</script>', html).group(1))
    )

    checked = 0
    for series in data["trend"]["series"] + data["stacked"]["series"]:
        for value, url in zip(series["data"], series["urls"], strict=True):
            if url:
                assert list_count(analyst_client, url) == value
                checked += 1
    for value, url in zip(data["pareto"]["counts"], data["pareto"]["urls"], strict=True):
        assert list_count(analyst_client, url) == value
        checked += 1
    for x, y, value in data["heatmap"]["cells"]:
        assert list_count(analyst_client, data["heatmap"]["urls"][f"{x},{y}"]) == value
        checked += 1
    for value, url in zip(data["regions"]["counts"], data["regions"]["urls"], strict=True):
        assert list_count(analyst_client, url) == value
        checked += 1
    assert checked > 20
    # The headline total and the flag cards too.
    total = int(re.search(r'data-count="total">(\d+)<', html).group(1))
    assert total == 46
    href = unescape(re.search(r'<a href="([^"]+)" data-drill="total"', html).group(1))
    assert list_count(analyst_client, href) == total
    for m in re.finditer(r'<a href="([^"]+)" data-drill="flag-(\w+)"><div class="v">(\d+)<', html):
        assert list_count(analyst_client, unescape(m.group(1))) == int(m.group(3))


def test_hotspot_tables_link_to_their_cases(analyst_client):
    response = analyst_client.get("/analytics/hotspots/?period=2025-11")
    html = response.content.decode()
    links = re.findall(r'<td class="n"><a href="(/analytics/cases/\?[^"]+)">(\d+)</a>', html)
    assert len(links) > 10
    for href, number in links:
        assert list_count(analyst_client, unescape(href)) == int(number)


def test_category_level_grouping_and_unclassified_bucket(org):
    demo.build(org)
    nov = StatFilters.for_period(Period.parse("2025-11"))
    top = {r["category"]: r["count"] for r in selectors.count_by(nov, ["category"])}
    sub = {r["subcategory"]: r["count"] for r in selectors.count_by(nov, ["subcategory"])}
    assert top["service"] == sub["service.attitude"] == 11
    assert top["product"] == sub["product.defect"] + sub["product.safety"] == 9
    assert sum(top.values()) == sum(sub.values()) == selectors.total(nov)


def test_department_head_sees_only_own_department(client, org):
    demo.build(org)
    client.force_login(org.claims_head)  # nothing was assigned to 理赔部
    response = client.get("/analytics/cases/?date_from=2025-10-01&date_to=2025-11-30")
    assert 'data-count="0"' in response.content.decode()
    client.force_login(org.quality_head)
    response = client.get("/analytics/cases/?date_from=2025-10-01&date_to=2025-11-30")
    count = int(re.search(r'data-count="(\d+)"', response.content.decode()).group(1))
    assert 0 < count < 46


def test_intake_clerk_may_not_see_analysis(client, org):
    client.force_login(org.intake)
    assert client.get("/analytics/").status_code == 403
    assert urlsplit("/analytics/cases/").path  # the drill-down is protected the same way
    assert client.get("/analytics/cases/").status_code == 403


def test_api_figures_match_the_case_lists(client, org):
    demo.build(org)
    client.force_login(org.analyst)
    body = client.get(
        "/api/v1/analytics/counts?dims=category,branch&date_from=2025-11-01&date_to=2025-11-30"
    ).json()
    assert body["total"] == 25
    for row in body["rows"]:
        assert selectors.case_queryset(StatFilters.from_params(row["params"])).count() == row["count"]
    top = client.get("/api/v1/analytics/compare?period=2025-11&dim=category&kind=complaint&n=1").json()
    assert top["rows"][0]["label"] == "服务质量" and top["rows"][0]["mom_pct"] == 120.0
    kpi = client.get("/api/v1/analytics/kpis?group=department&date_from=2025-11-01&date_to=2025-11-30").json()
    assert sum(r["volume"] for r in kpi["rows"]) == 25
    client.force_login(org.intake)
    assert client.get("/api/v1/analytics/counts").status_code == 403
