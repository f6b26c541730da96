"""PostgreSQL: the case rows an import writes from COPY text formatted where the file is read
(`CaseCreation._case_tail`) are the rows psycopg writes from the values themselves."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection, transaction

from kesu.cases.models import Case
from kesu.intake import services
from kesu.intake.bulk.sql import copy_text
from kesu.intake.bulk.writer import BulkWriter
from tests.intake.helpers import crm_source, good_rows, write_csv

pytestmark = pytest.mark.django_db(transaction=True)

NOW = dt.datetime(2026, 5, 10, 8, 0, tzinfo=dt.UTC)
# Ids differ between two runs (sequences are not rolled back): compared through what they point at.
IDS = {"id", "customer_id", "repeat_of_id"}


def _rows() -> list[list[str]]:
    rows = good_rows(20) + good_rows(20, start=21, closed=True)
    rows[0][6] = "反斜杠 C:\\temp\\n 与\t制表符"
    rows[1][6] = "两行\n第二行\r\n第三行 \\N"
    rows[2][6] = "\\"
    rows[4][5] = rows[5][5] = rows[6][5]  # one customer, three complaints: repeat counts and links
    rows[25][5] = rows[26][5]
    rows[27][9] = "依法维持"
    return rows


def _cases() -> dict[str, dict]:
    names = [f.attname for f in Case._meta.concrete_fields if f.attname not in IDS]
    return {
        c["number"]: c
        for c in Case.objects.values(*names, "customer__phone", "repeat_of__number").order_by("number")
    }


def _import(path, monkeypatch, *, copy_case_text: bool) -> dict[str, dict]:
    monkeypatch.setattr(BulkWriter, "copy_case_text", copy_case_text)
    with transaction.atomic():
        batch = services.run_import(crm_source(), path, chunk_size=15, now=NOW)
        issues = list(batch.issues.values_list("row", "column", "reason"))
        assert batch.state == "completed" and batch.created == 40, (batch.error, issues)
        cases = _cases()
        transaction.set_rollback(True)
    return cases


def test_case_rows_from_copy_text_equal_the_rows_psycopg_formats(org, tmp_path, monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("COPY text is the PostgreSQL path; SQLite inserts the values")
    path = write_csv(tmp_path / "tricky.csv", _rows())
    expected = _import(path, monkeypatch, copy_case_text=False)
    got = _import(path, monkeypatch, copy_case_text=True)
    assert len(got) == 40
    assert got == expected
    descriptions = {c["description"] for c in got.values()}
    assert {"反斜杠 C:\\temp\\n 与\t制表符", "两行\n第二行\r\n第三行 \\N", "\\"} <= descriptions
    assert {c["status"] for c in got.values()} == {"registered", "closed"}
    assert max(c["repeat_count"] for c in got.values()) == 3


@pytest.mark.parametrize(
    "value, text",
    [
        (None, "\\N"),
        ("a\\b\tc\nd\re", "a\\\\b\\tc\\nd\\re"),
        (True, "t"),
        (False, "f"),
        (12, "12"),
        (dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC), "2026-01-02T03:04:05+00:00"),
        (dt.date(2026, 1, 2), "2026-01-02"),
    ],
)
def test_copy_text(value, text):
    assert copy_text(value) == text
