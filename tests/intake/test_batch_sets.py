"""The batch endpoint registers new complainants as one set (kesu.cases.services.register_many) and
answers exactly as registering the items one by one would: the same grading, numbers, deadlines,
events, rollups and per-item errors (issue 19)."""

from __future__ import annotations

import pytest

from kesu.analytics.models import CaseCountKey, DailyCaseCount
from kesu.analytics.rollups import rebuild_daily_counts
from kesu.cases import chain
from kesu.cases.models import Case, Customer
from kesu.cases.services import register_case, register_many
from kesu.errors import DomainError, Invalid
from kesu.sla.models import StageDeadline
from tests.factories import complaint_data, make_case

pytestmark = pytest.mark.django_db


def _counts() -> list[tuple]:
    return sorted(DailyCaseCount.objects.filter(n__gt=0).values_list("day", "kind", "dimension", "key", "n"))


def test_a_set_of_new_complainants_is_written_as_one_by_one(org):
    items = [complaint_data(flags=["media"] if i == 2 else []) for i in range(5)]
    results = register_many(org.intake, items)

    assert all(r.created for r in results)
    cases = [Case.objects.get(pk=r.case.pk) for r in results]
    # Consecutive numbers in item order, each case its one register event on a sealed chain.
    numbers = [c.number for c in cases]
    assert numbers == sorted(numbers) and len(set(numbers)) == 5
    assert int(numbers[-1][-4:]) - int(numbers[0][-4:]) == 4
    assert chain.verify_cases().ok
    for case in cases:
        assert list(case.events.values_list("seq", "action")) == [(1, "register")]
        assert case.customer is not None and case.repeat_count == 1
        assert case.customer.name_normalized == "".join(case.customer.name.split()).lower()
    # Grading as register_case grades: the media flag makes the third major.
    assert [c.level for c in cases] == ["normal", "normal", "major", "normal", "normal"]
    # Deadlines: the stages and the binding deadline a one-by-one registration writes.
    single = register_case(actor=org.intake, data=complaint_data()).case
    shape = lambda case: sorted(StageDeadline.objects.filter(case=case).values_list("stage", "state", "unit"))  # noqa: E731
    for case in cases:
        assert case.due_at is not None
        assert shape(case) == shape(single) or case.level == "major"
        assert case.events.get().payload.get("answer_promise"), case.events.get().payload
    # Rollups: the keys and day counts are those a rebuild from the case rows gives.
    assert CaseCountKey.objects.filter(case__in=cases).count() == 5
    kept = _counts()
    rebuild_daily_counts()
    assert _counts() == kept


def test_known_people_retries_and_errors_are_answered_as_register_case_would(org):
    known = make_case(org.intake, customer={"name": "老客户", "phone": "13912345678"})
    retry = complaint_data(external_source="crm", external_id="R-1")
    first = register_case(actor=org.intake, data=retry).case
    twice = {"name": "同一批两次", "phone": "13800000001"}
    items = [
        complaint_data(customer={"name": "老客户", "phone": "13912345678"}),  # a repeat: urgent
        complaint_data(customer=twice),
        complaint_data(customer=twice),  # the same person again in the batch: a repeat of the item before
        complaint_data(channel="pigeon"),  # refused
        retry,  # a retry of an earlier external id: the earlier case
        complaint_data(),  # new: in the set
    ]
    expected_error = None
    try:
        register_case(actor=org.intake, data=items[3])
    except Invalid as exc:
        expected_error = exc.details

    results = register_many(org.intake, items)

    assert (
        results[0].created and results[0].case.repeat_count == 2 and results[0].case.repeat_of_id == known.pk
    )
    assert results[0].case.level == "urgent"
    assert results[1].created and results[2].created
    assert results[2].case.repeat_count == 2 and results[2].case.repeat_of_id == results[1].case.pk
    assert Customer.objects.filter(phone="13800000001").count() == 1
    assert isinstance(results[3], DomainError) and results[3].details == expected_error
    assert not results[4].created and results[4].case.pk == first.pk
    assert results[5].created and results[5].case.repeat_count == 1
    assert chain.verify_cases().ok


def test_a_role_that_may_not_register_gets_every_item_refused(org):
    results = register_many(org.gm, [complaint_data(), complaint_data()])
    assert [getattr(r, "code", None) for r in results] == ["role_not_allowed", "role_not_allowed"]
    assert not Case.objects.exists()
