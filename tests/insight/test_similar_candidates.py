"""The similar-cases candidates: two index walks (same category; same product) merged in Python give
exactly the single `category OR product` query's rows in its order (cases without a closing time last,
as SQLite ordered them), without reading the open cases (no closing time) first."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.db import connection
from django.db.models import F, Q
from django.test.utils import CaptureQueriesContext

from kesu.cases import permissions
from kesu.cases.models import FINISHED_STATUSES, Case, Category, Kind, Status
from kesu.insight import similar
from tests import factories

T0 = dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.UTC)


def _old_single_query(user, case: Case) -> list[int]:
    """The query `candidates` ran before issue 19's case-page fix: category OR product, one ORDER BY."""
    qs = Case.objects.filter(status__in=FINISHED_STATUSES).exclude(pk=case.pk).exclude(kind=Kind.REPORT)
    qs = qs.filter(Q(category_id=case.category_id) | Q(product=case.product))
    qs = qs.exclude(status=Status.ARCHIVED)
    qs = permissions.visible_cases(user, qs).exclude(status=Status.INVALID)
    order = [F("closed_at").desc(nulls_last=True), "-id"]  # PostgreSQL put NULL first, SQLite last
    return list(qs.order_by(*order).values_list("pk", flat=True)[: similar.MAX_CANDIDATES])


@pytest.fixture
def history(org):
    """Finished cases of the category, of the product, of both and of neither, with closures that tie
    (same closed_at) across the two sets and a few without a closing time."""
    other = Category.objects.exclude(code="product.defect").first()
    shapes = [
        ("product.defect", "热水器A"),  # both
        ("product.defect", "净水器B"),  # category only
        (other.code, "热水器A"),  # product only
        (other.code, "净水器B"),  # neither
    ]
    for i in range(24):
        code, product = shapes[i % 4]
        c = factories.make_case(org.intake, category=code, product=product)
        closed = None if i % 11 == 5 else T0 + dt.timedelta(hours=i // 3)  # three cases per hour: ties
        Case.objects.filter(pk=c.pk).update(status=Status.CLOSED, closed_at=closed)
    return factories.make_case(org.intake, category="product.defect", product="热水器A")


@pytest.mark.parametrize("limit", [5, 9, 400])
def test_the_merged_walks_equal_the_single_or_query(org, history, monkeypatch, limit):
    monkeypatch.setattr(similar, "MAX_CANDIDATES", limit)
    expected = _old_single_query(org.supervisor, history)
    assert len(expected) == min(limit, 18)  # the limit cuts inside the ties, or nothing is cut
    assert [c.pk for c in similar.candidates(org.supervisor, history)] == expected


def test_each_candidates_query_walks_one_index_over_the_closed_rows(org, history, monkeypatch):
    monkeypatch.setattr(similar, "MAX_CANDIDATES", 5)
    with CaptureQueriesContext(connection) as ctx:
        similar.candidates(org.supervisor, history)
    reads = [
        q["sql"] for q in ctx.captured_queries if 'FROM "cases_case"' in q["sql"] and "closed_at" in q["sql"]
    ]
    assert len(reads) == 2  # 5 closed candidates: no look at the ones without a closing time
    for sql in reads:
        # category OR product in one query: PostgreSQL ORs two bitmaps and sorts every matching row
        assert '"closed_at" IS NOT NULL' in sql, sql  # not the open cases first
        assert not (re.search(r'"category_id" = \d', sql) and '"product" =' in sql), sql
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            for q in ctx.captured_queries:
                if q["sql"] not in reads:
                    continue
                cur.execute("SET enable_seqscan = off")  # a tiny table: ask for the plan as at 100k
                cur.execute("EXPLAIN " + q["sql"])
                plan = "\n".join(r[0] for r in cur.fetchall())
                cur.execute("RESET enable_seqscan")
                assert "BitmapOr" not in plan and "closed_at IS NOT NULL" in plan, plan
                assert "case_category_closed_idx" in plan or "case_product_closed_idx" in plan, plan
