"""`get_case` sends a statement the ORM compiled once per connection and shape (kesu.cases.prepared
.fetch): the Case it returns must be the one the QuerySet gives, related rows, flags and all."""

from __future__ import annotations

import pytest
from django.db.models import Model

from kesu.cases import selectors
from kesu.cases.models import Case
from kesu.errors import NotFound
from tests import factories
from tests.cases.helpers import Walk

pytestmark = pytest.mark.django_db

RELATED = ("channel", "category", "department", "handler", "customer", "policy")


def values(obj: Model | None) -> dict | None:
    if obj is None:
        return None
    return {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields}


def orm_read(case: Case, *, parts: bool) -> Case:
    qs = Case.objects.select_related(*RELATED)
    if parts:
        qs = qs.annotate(**selectors._part_flags())
    return qs.get(pk=case.pk)


def assert_same_read(user, case: Case) -> None:
    for parts in (False, True):
        for policy_row in (True, False):
            for lookup in ({"number": case.number}, {"pk": case.pk}):
                got = selectors.get_case(user, parts=parts, policy_row=policy_row, **lookup)
                want = orm_read(case, parts=parts)
                assert type(got) is Case and not got._state.adding and got._state.db == "default"
                assert values(got) == values(want)
                for name in RELATED:
                    if name == "policy" and not policy_row:
                        assert not Case.policy.is_cached(got)  # not read with the case
                        continue
                    assert getattr(Case, name).is_cached(got), name  # no query when the page asks
                    assert values(getattr(got, name)) == values(getattr(want, name)), name
                for part in selectors.PART_MODELS:
                    assert selectors.has_part(got, part) == (getattr(want, f"has_{part}") if parts else True)


def test_the_compiled_read_returns_the_querysets_case(org):
    plain = factories.make_case(org.intake)
    assert_same_read(org.supervisor, plain)
    report = factories.make_case(org.intake, kind="report", is_anonymous=True)  # no customer row
    assert_same_read(org.risk, report)  # risk/compliance reads the whistle-blowing reports
    worked = factories.make_case(org.intake)
    walk = Walk(worked)
    walk("accept", org.intake)
    walk("assign", org.intake, handler=org.handler.pk)
    walk("start_investigation", org.handler, contacted_customer=True)
    walk("request_collaboration", org.handler, department="FINANCE", question="核实")
    walk("propose_remedy", org.handler, remedy_type="compensation", amount="800", description="赔偿")
    assert_same_read(org.handler, worked)


def test_a_missing_or_hidden_case_is_not_found(org):
    case = factories.make_case(org.intake)
    with pytest.raises(NotFound):
        selectors.get_case(org.supervisor, number="TS-NOPE")
    with pytest.raises(NotFound):
        selectors.get_case(org.supervisor, pk=-1)
    with pytest.raises(NotFound):  # beyond the column's integers: nothing, as the ORM answers (API fuzzing)
        selectors.get_case(org.supervisor, pk=-14229203979824484352)
    assert selectors.get_case(org.supervisor, pk=str(case.pk)) == case  # converted as the ORM converts
    with pytest.raises(NotFound):
        selectors.get_case(org.finance_handler, number=case.number)
