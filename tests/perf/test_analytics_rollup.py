"""The analytics page of a company-wide viewer counts from the daily-count rollup (when it accounts for
every case), with the whistle-blowing reports left out as the live, scoped count leaves them out."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from kesu.analytics import selectors
from kesu.analytics.rollups import live_tables
from kesu.analytics.selectors import StatFilters
from tests import factories
from tests.sql import recorded

pytestmark = pytest.mark.django_db


def case_table_reads(fn) -> tuple[object, list[str]]:
    with recorded() as sql:
        out = fn()
    # The rollup's own check that it accounts for every case of the days (an index-only count) aside.
    check = 'SELECT COUNT(*) AS "__count" FROM "cases_case" WHERE ("cases_case"."received_at" >='
    return out, [s for s in sql if 'FROM "cases_case"' in s and not s.startswith(check)]


def test_company_wide_counts_come_from_the_rollup_and_equal_the_live_scoped_counts(org):
    for category in ("product.defect", "product.defect", "service.attitude"):
        factories.make_case(org.intake, category=category)
    factories.make_case(  # a whistle-blowing report: not the manager's to see
        org.intake, kind="report", category=None, description="收受回扣", customer={}, is_anonymous=True
    )
    today = timezone.localdate()
    f = StatFilters(date_from=today - dt.timedelta(days=30), date_to=today)
    figures = {
        "total": lambda: selectors.total(f, user=org.manager),
        "trend": lambda: selectors.trend(f, "month", user=org.manager),
        "by_category": lambda: selectors.trend(f, "month", "category", user=org.manager),
        "regions": lambda: selectors.count_by(f, ["region"], user=org.manager),
    }
    for name, fn in figures.items():
        rolled, reads = case_table_reads(fn)
        assert not reads, (name, reads)
        with live_tables():
            assert rolled == fn(), name
    assert selectors.total(f, user=org.manager) == 3
    assert selectors.total(f) == 4  # the report is in the company's own (scheduled) figures


def test_a_scoped_viewer_still_counts_the_live_table(org):
    factories.make_case(org.intake)
    today = timezone.localdate()
    f = StatFilters(date_from=today - dt.timedelta(days=30), date_to=today)
    _rows, reads = case_table_reads(lambda: selectors.count_by(f, ["category"], user=org.claims_head))
    assert reads
