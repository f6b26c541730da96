"""An import chunk takes its case numbers for all its days of receipt in one statement on PostgreSQL:
the statements per chunk do not grow with the number of days the chunk spans (a year's history in
10,000-row chunks spans ~300 days a chunk; it was one upsert per day)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from kesu.cases.models import Case
from kesu.intake import services
from tests.intake.helpers import crm_source, good_rows, write_csv

pytestmark = pytest.mark.django_db(transaction=True)

NOW = dt.datetime(2026, 5, 10, 8, 0, tzinfo=dt.UTC)


def _numbering_statements(tmp_path, days: int) -> tuple[int, list[str]]:
    rows = good_rows(60)
    start = dt.date(2026, 1, 1)
    for i, row in enumerate(rows):
        row[1] = f"{start + dt.timedelta(days=i % days):%Y-%m-%d} 09:{i % 60:02d}"
    path = write_csv(tmp_path / f"days-{days}.csv", rows)
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        batch = services.run_import(crm_source(), path, chunk_size=60, now=NOW)
        assert batch.state == "completed" and batch.created == 60, batch.error
        numbers = list(Case.objects.order_by("number").values_list("number", flat=True))
        transaction.set_rollback(True)
    return sum("cases_dailysequence" in q["sql"] for q in queries.captured_queries), numbers


def test_case_numbers_take_one_statement_per_chunk_however_many_days(org, tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite advances the day counters one by one (its write lock makes them cheap)")
    few, few_numbers = _numbering_statements(tmp_path, 3)
    many, many_numbers = _numbering_statements(tmp_path, 30)
    assert few == many == 1
    # Gap-free per day, as before: TS + day + 0001.. in order of the rows.
    assert few_numbers[:3] == ["TS202601010001", "TS202601010002", "TS202601010003"]
    assert len(set(many_numbers)) == 60 and many_numbers[:2] == ["TS202601010001", "TS202601010002"]
