"""The 相似已结案件 candidates: one walk per key (the case's category, its product) along a partial index
of finished cases, merged — the same list, in the same order, as one walk over both keys along
closed_at, and a walk that reads finished cases only (kesu.insight.similar.candidates).

At 100k cases PostgreSQL's single walk along closed_at passed every open case (a NULL closing time
sorts first in a descending walk) and every case of other categories: ~30 ms of server CPU per case page,
growing with the history (issue 19)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.db.models import F, Q
from django.utils import timezone

from kesu.cases import permissions
from kesu.cases.models import FINISHED_STATUSES, Case, Kind, Status
from kesu.insight import similar
from kesu.org import roles
from kesu.org.selectors import has_role
from kesu.policy.models import Category
from tests import factories
from tests.perf.bulk import clone_cases

pytestmark = pytest.mark.django_db


def one_walk(user, case: Case, limit: int) -> list[int]:
    """The candidates as they were read before the split (c83fdc9): one query over both keys, newest
    closure first, then the highest id; finished cases without a closing time after the dated ones (as
    SQLite orders NULLs in a descending sort; PostgreSQL had put them first)."""
    match = Q()
    if case.category_id:
        match |= Q(category_id=case.category_id)
    if case.product:
        match |= Q(product=case.product)
    qs = Case.objects.filter(status__in=FINISHED_STATUSES).exclude(pk=case.pk).exclude(kind=Kind.REPORT)
    if case.kind == Kind.REPORT:
        qs = Case.objects.filter(status__in=FINISHED_STATUSES, kind=Kind.REPORT).exclude(pk=case.pk)
    if match:
        qs = qs.filter(match)
    if not has_role(user, roles.ARCHIVIST):
        qs = qs.exclude(status=Status.ARCHIVED)
    qs = permissions.visible_cases(user, qs).exclude(status=Status.INVALID)
    order = (F("closed_at").desc(nulls_last=True), "-id")
    return list(qs.order_by(*order).values_list("pk", flat=True)[:limit])


@pytest.fixture
def history(org):
    """60 finished cases over three categories and three products, the closing times in ties of five,
    some without a closing time, some in another department, archived, invalid or still open."""
    cats = list(Category.objects.order_by("pk")[:3])
    copies = clone_cases(factories.make_case(org.intake), 60, rollups=False)
    base = timezone.now() - dt.timedelta(days=30)
    for i, c in enumerate(copies):
        status = Status.CLOSED
        if i % 17 == 3:
            status = Status.ARCHIVED
        elif i % 19 == 4:
            status = Status.INVALID
        elif i % 23 == 5:
            status = Status.INVESTIGATING
        closed_at = (
            None if (i % 11 == 7 or status == Status.INVESTIGATING) else base + dt.timedelta(hours=i // 5)
        )
        Case.objects.filter(pk=c.pk).update(
            status=status,
            closed_at=closed_at,
            category=cats[i % 3],
            product=("热水器", "燃气灶", "")[i % 4 % 3],
            department=org.quality if i % 6 == 1 else org.claims,
        )
    return {"cats": cats, "copies": copies}


@pytest.mark.parametrize("limit", [4, 9, 25, 400])
def test_the_merged_walks_give_the_one_walks_list(org, history, monkeypatch, limit):
    monkeypatch.setattr(similar, "MAX_CANDIDATES", limit)
    cats = history["cats"]
    probe = history["copies"][0]
    shapes = [
        (cats[0], "热水器"),
        (cats[1], "燃气灶"),
        (cats[2], ""),
        (None, "热水器"),
        (None, ""),
    ]
    checked = 0
    for category, product in shapes:
        Case.objects.filter(pk=probe.pk).update(
            status=Status.INVESTIGATING, category=category, product=product
        )
        case = Case.objects.get(pk=probe.pk)
        for user in (org.supervisor, org.claims_handler, org.archivist):
            want = one_walk(user, case, limit)
            got = [c.pk for c in similar.candidates(user, case)]
            assert got == want, (category, product, user.username)
            checked += len(want)
    assert checked > 0


def _plan(qs) -> str:
    sql, params = qs.query.sql_with_params()
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("EXPLAIN QUERY PLAN " + sql, params)
            return "\n".join(str(row[-1]) for row in cursor.fetchall())
        cursor.execute("EXPLAIN " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


def test_each_walk_reads_its_index_of_finished_cases_in_order(org):
    """The walk for the category and the one for the product each come from their partial index of
    finished cases, in the page's order, without a sort (so a walk stops after MAX_CANDIDATES rows)."""
    template = factories.make_case(org.intake, product="热水器")
    copies = clone_cases(template, 300, rollups=False)
    now = timezone.now()
    finished = [c.pk for c in copies[:200]]
    Case.objects.filter(pk__in=finished).update(status=Status.CLOSED, closed_at=now)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
        if connection.vendor == "postgresql":
            # A few hundred rows are read and sorted faster than walked: the question here is whether the
            # index serves the walk (at 100k cases it does: bench/results/speed20/).
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute("SET LOCAL enable_sort = off")
            cursor.execute("SET LOCAL enable_bitmapscan = off")
            # Nor the closed_at index with a sort by id within equal closing times.
            cursor.execute("SET LOCAL enable_incremental_sort = off")
    case = Case.objects.get(pk=copies[-1].pk)
    walks, _undated = similar.candidate_walks(org.supervisor, case)
    assert len(walks) == 2
    for walk, index in zip(walks, ("case_finished_category_idx", "case_finished_product_idx"), strict=True):
        plan = _plan(
            walk.values_list("pk", "closed_at")[: similar.MAX_CANDIDATES]
        )  # as candidates() reads it
        assert index in plan, plan
        assert "TEMP B-TREE" not in plan and "Sort" not in plan, plan
