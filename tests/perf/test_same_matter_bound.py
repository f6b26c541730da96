"""Registration's same-matter lookup reads a bounded number of the customer's earlier complaints."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from kesu.cases import grading
from tests import factories
from tests.perf.bulk import clone_cases

pytestmark = pytest.mark.django_db


def test_a_long_history_is_read_up_to_the_bound(org, monkeypatch):
    first = factories.make_case(org.intake)
    clone_cases(first, 7, new_customers=False, rollups=False)  # 8 earlier complaints of one customer
    monkeypatch.setattr(grading, "MAX_EARLIER", 5)
    with CaptureQueriesContext(connection) as ctx:
        count, latest = grading.count_same_matter(
            customer=first.customer,
            subject_no="",
            category_id=first.category_id,
            before=timezone.now(),
            window_days=365,
            text=first.description,
        )
    assert count == 5 and latest is not None
    reads = [q["sql"] for q in ctx.captured_queries if 'FROM "cases_case"' in q["sql"]]
    assert len(reads) == 1 and "LIMIT 5" in reads[0], reads
    # Only the columns grading and the text comparison use.
    assert '"cases_case"."claimed_amount"' not in reads[0]


def test_the_bound_still_grades_a_third_complaint_major(org):
    phone = "13912345678"
    for _ in range(2):
        factories.make_case(org.intake, customer={"name": "老客户", "phone": phone})
    third = factories.make_case(org.intake, customer={"name": "老客户", "phone": phone})
    assert third.repeat_count == 3 and third.level == "major"
