"""Two sweeps at the same time (two workers, or the scheduler and a manual `kesu sla sweep`) escalate
each due deadline once: the second waits for the first's row locks, then finds the rows moved on.

PostgreSQL only (SQLite serialises every writer, so there is no race to lose)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.utils import timezone

from kesu.cases import chain
from kesu.cases.models import CaseEvent
from kesu.sla import sweeper
from kesu.sla.models import Notification, StageDeadline
from tests.cases.test_concurrency import run_threads
from tests.perf.bulk import clone_cases
from tests.perf.test_query_counts import investigating

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip(f"needs PostgreSQL row locks; {connection.vendor} serialises writers")


def test_two_concurrent_sweeps_escalate_each_deadline_once(org):
    cases = clone_cases(investigating(org), 40)
    at = timezone.now() + dt.timedelta(days=90)
    StageDeadline.objects.update(next_check_at=at + dt.timedelta(days=365))
    StageDeadline.objects.filter(case__in=cases, state="open").update(next_check_at=at)

    reports = run_threads(2, lambda _i: sweeper.sweep(at, chunk=15))
    assert not any(isinstance(r, Exception) for r in reports), reports
    assert sum(r.breaches for r in reports) == 40
    assert sum(r.escalations for r in reports) == 200  # five steps each, written by one sweep or the other
    assert not any(r.errors for r in reports)
    assert CaseEvent.objects.filter(case__in=cases, action="escalate").count() == 200
    keys = list(Notification.objects.filter(kind="sla.escalation").values_list("dedupe_key", flat=True))
    assert keys and len(keys) == len(set(keys))
    assert chain.verify_cases().ok
