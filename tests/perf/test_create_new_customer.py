"""A complaint of a new customer is registered without reading any case history (issue 19): the customer
was created in this registration, so no earlier complaint can be the same matter."""

from __future__ import annotations

import pytest

from kesu.cases.models import DailySequence
from tests import factories
from tests.sql import statements

pytestmark = pytest.mark.django_db


def test_a_new_customer_reads_no_case_history_and_the_number_is_one_statement(org):
    factories.make_case(org.intake)  # caches warm
    sql = statements(lambda: factories.make_case(org.intake))

    selects = [s for s in sql if s.lstrip().upper().startswith("SELECT")]
    assert not any('FROM "cases_case"' in s for s in selects), selects
    assert not any('"cases_customer"."id" = ' in s and " OR " in s for s in selects), selects
    assert sum("cases_dailysequence" in s for s in sql) == 1, sql
    assert DailySequence.objects.get().last == 2


def test_a_known_customer_is_still_graded_by_the_history(org):
    phone = "13912345678"
    factories.make_case(org.intake, customer={"name": "老客户", "phone": phone})
    second = factories.make_case(org.intake, customer={"name": "老客户", "phone": phone})
    assert second.repeat_count == 2 and second.level == "urgent"
