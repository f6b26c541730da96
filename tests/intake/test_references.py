"""Foreign keys of imported rows: refused whether the database checks them per row or the importer
checks them per chunk (PostgreSQL, kesu.intake.references)."""

from __future__ import annotations

import pytest
from django.db import connection

from kesu.analytics.models import CaseCountKey, DailyCaseCount
from kesu.cases.models import Case, CaseEvent
from kesu.intake import references, services
from kesu.intake.mapping import RowMapper
from kesu.sla.models import StageDeadline
from tests.intake.helpers import crm_source, good_rows, write_csv

# Real commits: SQLite checks deferred foreign keys only when the transaction commits.
pytestmark = pytest.mark.django_db(transaction=True)

MISSING_CATEGORY = 987654


def _point_row_at_a_missing_category(monkeypatch, row: int) -> None:
    real_map = RowMapper.map

    def mapped(self, number, cells):
        record, problems = real_map(self, number, cells)
        if record is not None and number == row:
            record.category_id = MISSING_CATEGORY
        return record, problems

    monkeypatch.setattr(RowMapper, "map", mapped)


@pytest.mark.parametrize("per_chunk", [True, False], ids=["checked-per-chunk", "checked-per-row"])
def test_a_row_pointing_at_a_missing_record_fails_its_chunk_and_writes_none_of_it(
    org, tmp_path, monkeypatch, per_chunk
):
    if per_chunk and connection.vendor != "postgresql":
        pytest.skip("the importer checks references per chunk on PostgreSQL only")
    monkeypatch.setattr(references, "may_check_per_chunk", lambda: per_chunk)
    path = write_csv(tmp_path / "bad-ref.csv", good_rows(6))
    # Data rows are file rows 2-7; chunks of 3: rows 2-4, then 5-7 with the bad reference in row 6.
    with monkeypatch.context() as patched:
        _point_row_at_a_missing_category(patched, row=6)
        batch = services.run_import(crm_source(), path, chunk_size=3)
    assert batch.state == "failed"
    assert "第 2 个分块" in batch.error
    assert batch.chunks_committed == 1 and batch.created == 3
    cases = set(Case.objects.values_list("external_id", flat=True))
    assert cases == {"WO000001", "WO000002", "WO000003"}
    assert CaseEvent.objects.count() == 3
    assert set(StageDeadline.objects.values_list("case__external_id", flat=True)) == cases
    assert CaseCountKey.objects.count() == 3
    assert sum(DailyCaseCount.objects.filter(dimension="").values_list("n", flat=True)) == 3

    again = services.run_import(crm_source(), path, chunk_size=3)  # the file's rows are all valid now
    assert again.pk == batch.pk and again.state == "completed", again.error
    assert Case.objects.count() == 6 and CaseEvent.objects.count() == 6


def test_postgresql_import_checks_references_per_chunk_and_turns_the_row_triggers_back_on(org, tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only")
    assert references.may_check_per_chunk(), "the test database role (a superuser) may set the role"
    batch = services.run_import(crm_source(), write_csv(tmp_path / "ok.csv", good_rows(5)), chunk_size=2)
    assert batch.state == "completed" and batch.created == 5, batch.error
    with connection.cursor() as cur:
        cur.execute("SHOW session_replication_role")
        assert cur.fetchone()[0] == "origin"
    # The database still refuses a bad reference written outside the importer.
    from django.db import IntegrityError, transaction

    case = Case.objects.first()
    with pytest.raises(IntegrityError), transaction.atomic():
        Case.objects.filter(pk=case.pk).update(category_id=MISSING_CATEGORY)
        connection.check_constraints()
