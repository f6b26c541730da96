"""The newest-first case list walks an index and stops after a page; it never sorts every open case.

At 100k cases SQLite joined the channels first and sorted all 30k open cases for each page of the API
open queue (115 ms of CPU against 2.4 ms with the walk). Query counts cannot see a plan, so this test
reads it, after ANALYZE as in a database that has run `PRAGMA optimize`: the page query must come from
the `(received_at, id)` index without a sort step."""

from __future__ import annotations

import pytest
from django.db import connection

from kesu.cases import selectors
from tests import factories
from tests.perf.bulk import clone_cases

pytestmark = pytest.mark.django_db


def _plan(qs) -> str:
    sql, params = qs.query.sql_with_params()
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("EXPLAIN QUERY PLAN " + sql, params)
            return "\n".join(str(row[-1]) for row in cursor.fetchall())
        cursor.execute("EXPLAIN " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


@pytest.mark.skipif(connection.vendor != "sqlite", reason="PostgreSQL plans by its statistics")
def test_the_open_queue_page_walks_the_newest_cases_index(org):
    clone_cases(factories.make_case(org.intake), 300)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    for user in (org.supervisor, org.manager):
        qs = selectors.list_cases(user, selectors.CaseFilters(open_only=True)).select_related(
            "channel", "category", "department", "handler"
        )[:26]
        plan = _plan(qs)
        assert "case_received_id_idx" in plan and "TEMP B-TREE" not in plan, plan
