"""The sweeper escalates a chunk as one set (`perform_many`); a chunk that fails as a set is done row by
row, so one bad row stops only itself. Every escalation is an event on its case's chained timeline."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from kesu.cases import chain, services
from kesu.cases.models import CaseEvent
from kesu.sla import sweeper
from kesu.sla.models import StageDeadline
from tests.perf.bulk import clone_cases
from tests.perf.test_query_counts import investigating

pytestmark = pytest.mark.django_db


def breached(org, n: int):
    cases = clone_cases(investigating(org), n)
    later = timezone.now() + dt.timedelta(days=90)
    StageDeadline.objects.update(next_check_at=later + dt.timedelta(days=365))
    StageDeadline.objects.filter(case__in=cases, state="open").update(next_check_at=later)
    return cases, later


def test_escalations_of_a_chunk_are_one_set_and_chained(org, monkeypatch):
    cases, later = breached(org, 4)
    sets: list[int] = []
    real = services.perform_many

    def spy(action, items, actor, **kw):
        sets.append(len(items))
        return real(action, items, actor, **kw)

    monkeypatch.setattr(sweeper, "perform_many", spy)
    report = sweeper.sweep(later)
    assert report.escalations >= 4 and not report.errors
    assert len(sets) == 1 and sets[0] == report.escalations
    assert CaseEvent.objects.filter(case__in=cases, action="escalate").count() == report.escalations
    assert chain.verify_cases().ok


def test_a_chunk_that_fails_as_a_set_is_done_row_by_row(org, monkeypatch):
    cases, later = breached(org, 3)
    real = services.perform_many

    def only_single_cases(action, items, actor, **kw):
        if len({pk for pk, _ in items}) > 1:
            raise RuntimeError("a set that cannot be written")
        return real(action, items, actor, **kw)

    monkeypatch.setattr(sweeper, "perform_many", only_single_cases)
    report = sweeper.sweep(later)
    assert not report.errors and report.breaches == 3 and report.escalations >= 3
    for case in cases:
        assert CaseEvent.objects.filter(case=case, action="escalate").exists()
    assert chain.verify_cases().ok
    # Nothing is left due: the rows moved on.
    assert not StageDeadline.objects.filter(case__in=cases, next_check_at__lte=later).exists()
