"""Concurrency on PostgreSQL: one door for state, gap-free numbers.

SQLite serialises every writer (IMMEDIATE transactions), so row locks and version races only mean
something on PostgreSQL; these tests skip elsewhere.
"""

from __future__ import annotations

import threading
from collections import defaultdict

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, connections

from kesu.cases.models import Case, CaseEvent, DailySequence
from kesu.cases.services import perform, register_case
from kesu.errors import VersionConflict
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip(
            f"needs PostgreSQL row locks; {connection.vendor} serialises writers "
            "(run with KESU_DATABASE_URL=postgresql://...)"
        )


def run_threads(count: int, target) -> list:
    """Start `count` threads together (a barrier) and collect what each returned or raised."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def worker(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[i] = target(i)
        except Exception as exc:  # collected and asserted by the test
            results[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    return results


def test_two_concurrent_actions_on_one_case_apply_exactly_once(org):
    case = factories.make_case(org.intake)
    users = [org.intake.pk, org.supervisor.pk]

    def act(i: int):
        actor = get_user_model().objects.get(pk=users[i])
        return perform(case.pk, "accept", actor, expected_version=1)

    results = run_threads(2, act)
    applied = [r for r in results if isinstance(r, CaseEvent)]
    refused = [r for r in results if isinstance(r, VersionConflict)]
    assert len(applied) == 1 and len(refused) == 1, results
    assert refused[0].status == 409 and refused[0].code == "version_conflict"
    assert refused[0].details["current_version"] == 2
    case.refresh_from_db()
    assert (case.status, case.version) == ("accepted", 2)
    assert list(case.events.values_list("seq", "action")) == [(1, "register"), (2, "accept")]
    assert case.events.get(seq=2).actor_id == applied[0].actor_id


def test_concurrent_different_actions_never_both_apply(org):
    case = factories.make_case(org.intake)

    def act(i: int):
        actor = get_user_model().objects.get(pk=org.intake.pk)
        if i == 0:
            return perform(case.pk, "accept", actor, expected_version=1)
        return perform(case.pk, "mark_invalid", actor, expected_version=1, reason="not_specific")

    results = run_threads(2, act)
    assert sorted(type(r).__name__ for r in results) == ["CaseEvent", "VersionConflict"], results
    case.refresh_from_db()
    assert case.version == 2 and case.events.count() == 2
    assert case.status == case.events.get(seq=2).to_status


def test_concurrent_registrations_get_unique_consecutive_numbers(org):
    threads, per_thread = 8, 10
    intake_pk = org.intake.pk

    def register_many(i: int) -> list[str]:
        actor = get_user_model().objects.get(pk=intake_pk)
        numbers = []
        for n in range(per_thread):
            data = factories.complaint_data(customer={"name": f"并发{i}-{n}", "phone": f"1370{i:03d}{n:04d}"})
            numbers.append(register_case(actor=actor, data=data).case.number)
        return numbers

    results = run_threads(threads, register_many)
    errors = [r for r in results if isinstance(r, Exception)]
    assert not errors, errors
    numbers = [n for r in results for n in r]
    assert len(numbers) == len(set(numbers)) == threads * per_thread
    assert Case.objects.count() == threads * per_thread
    by_day: dict[str, list[int]] = defaultdict(list)
    for number in numbers:
        assert number.startswith("TS") and len(number) == 14
        by_day[number[2:10]].append(int(number[10:]))
    for day, seqs in by_day.items():
        assert sorted(seqs) == list(range(1, len(seqs) + 1)), day  # consecutive, no gaps
        assert DailySequence.objects.get(day=f"{day[:4]}-{day[4:6]}-{day[6:]}").last == len(seqs)
    # Every case has exactly its registration event.
    assert CaseEvent.objects.filter(seq=1, action="register").count() == threads * per_thread
    assert CaseEvent.objects.count() == threads * per_thread


def test_concurrent_retries_with_one_idempotency_key_create_one_case(org):
    data = factories.complaint_data()
    intake_pk = org.intake.pk

    def create(i: int):
        actor = get_user_model().objects.get(pk=intake_pk)
        return register_case(actor=actor, data=dict(data), idempotency_key="retry-me")

    results = run_threads(4, create)
    assert not [r for r in results if isinstance(r, Exception)], results
    assert len({r.case.pk for r in results}) == 1
    assert sum(r.created for r in results) == 1
    assert Case.objects.count() == 1
