"""The statistics export coded on the three JR/T 0169-2018 axes (channel, business type, cause) for the
financial presets, through the web (analyst) and the API: counts per code combination for a period,
CSV and XLSX; a case with an axis missing is counted under 未编码, never dropped."""

from __future__ import annotations

import csv
import io

import pytest
from django.test import Client
from openpyxl import load_workbook

from kesu.analytics import jrt
from kesu.analytics.periods import Period
from kesu.org.models import ApiToken
from tests import factories
from tests.analytics.util import at, register

pytestmark = pytest.mark.django_db

NOVEMBER = Period.parse("2026-11")


@pytest.fixture
def bank():
    o = factories.org("bank")
    for day in (3, 4):
        register(
            o,
            at(2026, 11, day),
            channel="counter",
            business_type="bank.credit_card",
            category="cause.pricing",
        )
    register(o, at(2026, 11, 5), channel="mobile_app", business_type="bank.loan", category="cause.collection")
    # No business type: counted under 未编码 on that axis.
    register(o, at(2026, 11, 6), channel="phone", category="cause.service")
    # A category outside the cause axis (inherited from the general tree): cause 未编码.
    register(
        o,
        at(2026, 11, 30, 23, 50),
        channel="counter",
        business_type="bank.deposit",
        category="product.defect",
    )
    # Outside the period, and not a complaint: not counted.
    register(o, at(2026, 12, 1, 0, 5), channel="counter", business_type="bank.loan", category="cause.pricing")
    register(o, at(2026, 11, 7), kind="consultation", channel="counter", category="cause.rules")
    return o


def test_counts_per_code_combination_with_uncoded_rows(bank):
    table = jrt.axis_counts(NOVEMBER, user=bank.analyst)
    combos = {(r["channel"], r["business_type"], r["cause"]): r["count"] for r in table.rows}
    assert combos == {
        ("counter", "bank.credit_card", "cause.pricing"): 2,
        ("mobile_app", "bank.loan", "cause.collection"): 1,
        ("phone", "", "cause.service"): 1,
        ("counter", "bank.deposit", ""): 1,
    }
    assert (table.total, table.uncoded) == (5, 2)
    assert sum(combos.values()) == table.total  # nothing dropped
    # Coded rows first, then those with an axis 未编码, each axis named.
    assert [r["business_type"] and r["cause"] for r in table.rows][-2:] == ["", ""]
    row = table.rows[0]
    assert (row["channel_name"], row["business_type_name"], row["cause_name"]) == (
        "营业现场",
        "信用卡",
        "定价收费",
    )
    assert {r["business_type_name"] for r in table.rows if not r["business_type"]} == {"未编码"}


def test_web_page_and_csv_xlsx_for_the_analyst(bank):
    client = Client()
    client.force_login(bank.analyst)
    page = client.get("/analytics/jrt/?period=2026-11")
    assert page.status_code == 200
    html = page.content.decode()
    assert "投诉 5 件，其中至少一个维度未编码 2 件" in html
    assert "<td>电话（客服热线）</td><td>未编码</td><td>服务态度及服务质量</td>" in html
    assert "cause.pricing" not in html  # names on screen, codes in the files

    response = client.get("/analytics/jrt/?period=2026-11&format=csv")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert 'filename="jrt0169-2026-11-01-2026-11-30.csv"' in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0] == [
        "业务办理渠道代码",
        "业务办理渠道",
        "业务类别代码",
        "业务类别",
        "投诉原因代码",
        "投诉原因",
        "投诉件数",
    ]
    assert rows[1] == ["counter", "营业现场", "bank.credit_card", "信用卡", "cause.pricing", "定价收费", "2"]
    assert [
        "phone",
        "电话（客服热线）",
        "未编码",
        "未编码",
        "cause.service",
        "服务态度及服务质量",
        "1",
    ] in rows
    assert rows[-2][0] == "未编码" and rows[-2][-1] == "2"
    assert rows[-1][0] == "合计" and rows[-1][-1] == "5"
    assert sum(int(r[-1]) for r in rows[1:-2]) == 5

    response = client.get("/analytics/jrt/?period=2026-11&format=xlsx")
    sheet = load_workbook(io.BytesIO(response.content)).active
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    assert values[-1][0] == "合计" and values[-1][-1] == 5
    # A handler is no analyst.
    other = Client()
    other.force_login(bank.handler)
    assert other.get("/analytics/jrt/?period=2026-11").status_code == 403


def test_api_json_and_files(bank):
    key = ApiToken.issue(bank.analyst, "bi", scopes=["*"])[1]
    auth = {"HTTP_AUTHORIZATION": f"Bearer {key}"}
    body = Client().get("/api/v1/analytics/jrt?period=2026-11", **auth).json()
    assert body["standard"] == "JR/T 0169-2018" and (body["total"], body["uncoded"]) == (5, 2)
    assert {"channel": "phone", "business_type": "", "cause": "cause.service"}.items() <= next(
        r for r in body["rows"] if r["channel"] == "phone"
    ).items()
    response = Client().get("/api/v1/analytics/jrt?period=2026-11&format=xlsx", **auth)
    assert response.status_code == 200 and response["Content-Type"].startswith("application/vnd.openxml")
    bad = Client().get("/api/v1/analytics/jrt?period=2026-11&format=pdf", **auth)
    assert bad.status_code == 422 and bad.json()["code"] == "validation_error"


def test_insurance_uses_its_category_tree_as_the_cause_axis():
    o = factories.org("insurance")
    register(o, at(2026, 11, 3), business_type="life", category="claims.delay")
    register(o, at(2026, 11, 4), category="claims.delay")
    table = jrt.axis_counts(NOVEMBER, user=o.analyst)
    assert {(r["business_type"], r["cause"]): r["count"] for r in table.rows} == {
        ("life", "claims.delay"): 1,
        ("", "claims.delay"): 1,
    }


def test_a_non_financial_policy_has_no_such_statistics(org):
    key = ApiToken.issue(org.analyst, "bi", scopes=["*"])[1]
    response = Client().get("/api/v1/analytics/jrt?period=2026-11", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code == 409
    assert response.json()["code"] == "conflict" and "JR/T 0169-2018" in response.json()["message"]
    client = Client()
    client.force_login(org.analyst)
    page = client.get("/analytics/jrt/")
    assert page.status_code == 200 and "仅银行、保险、证券等金融预设" in page.content.decode()


def test_the_count_is_one_grouped_query_whatever_the_number_of_cases(bank):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            jrt.axis_counts(NOVEMBER, user=bank.analyst)
        return len(ctx.captured_queries)

    queries()  # the first call reads the active policy into its cache
    few = queries()
    for day in range(8, 28):
        register(
            bank,
            at(2026, 11, day),
            channel="atm",
            business_type="bank.debit_card",
            category="cause.facilities",
        )
    assert queries() == few
    assert jrt.axis_counts(NOVEMBER, user=bank.analyst).total == 25
