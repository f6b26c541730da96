"""The write path's reads compiled once per connection (kesu.cases.prepared): the lock of `perform`
and the customer lookup of a registration are not compiled again after the first call, and the
statement run with other values gives what the queryset itself gives."""

from __future__ import annotations

from unittest import mock

import pytest
from django.db.models.sql.compiler import SQLCompiler

from kesu.cases import prepared
from kesu.cases.customers import find_customer
from kesu.cases.models import Case, Customer
from kesu.cases.services import _locking_query, perform
from tests import factories

pytestmark = pytest.mark.django_db


def compiled(fn) -> list[str]:
    """The tables of the SELECTs compiled by Django's ORM while `fn` runs."""
    tables: list[str] = []
    original = SQLCompiler.as_sql

    def as_sql(self, *args, **kwargs):
        tables.append(self.query.get_meta().db_table)
        return original(self, *args, **kwargs)

    with mock.patch.object(SQLCompiler, "as_sql", as_sql):
        fn()
    return tables


def test_perform_compiles_its_lock_once(org):
    first, second = factories.make_case(org.intake), factories.make_case(org.intake)
    perform(first, "accept", org.intake)  # compiles it (once per connection)
    tables = compiled(lambda: perform(second, "accept", org.intake))
    assert "cases_case" not in tables, tables


def test_a_registration_compiles_its_customer_lookup_once(org):
    assert find_customer(phone="13900000001", policy_no="PB1") is None
    tables = compiled(lambda: find_customer(phone="13900000002", policy_no="PB2"))
    assert "cases_customer" not in tables, tables


def test_the_lock_gives_what_the_queryset_gives(org):
    cases = [factories.make_case(org.intake, category="service") for _ in range(2)]
    perform(cases[1], "accept", org.intake)
    for case in cases:
        [got] = prepared.fetch("test.lock", _locking_query, [case.pk])
        [want] = list(_locking_query(case.pk))
        fields = [f.attname for f in Case._meta.concrete_fields]
        assert [getattr(got, f) for f in fields] == [getattr(want, f) for f in fields]
        assert got.chain_head == want.chain_head and got.chain_head  # the annotation: the last event's hash
        # select_related: read with the case, no query of their own
        assert got.channel == want.channel and got.category == want.category
        assert Case.channel.is_cached(got) and Case.category.is_cached(got)
    assert prepared.fetch("test.lock", _locking_query, [10**9]) == []


def test_the_customer_lookup_still_takes_the_strongest_identifier(org):
    by_phone = Customer.objects.create(name="甲", phone="13900000001")
    by_id = Customer.objects.create(name="丙", id_number="11010519491231002X")
    # The same shape (ID number and phone) run with other values after the first compile.
    assert find_customer(phone="13900000001", id_number="11010519491231002x") == by_id
    assert find_customer(phone="13900000001", id_number="110105194912310029") == by_phone
    assert find_customer(phone="13900000009", id_number="110105194912310029") is None


def test_a_value_the_statement_does_not_carry_unchanged_is_refused():
    with pytest.raises(ValueError):
        prepared.fetch("test.upper", lambda v: Customer.objects.filter(phone=v.upper()), ["abc"])
    with pytest.raises(TypeError):
        prepared.fetch("test.none", lambda v: Customer.objects.filter(phone=v), [None])
