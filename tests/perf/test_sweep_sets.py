"""The sweeper escalates a chunk as one set (`perform_many`); a chunk that fails as a set is done row by
row, so one bad row stops only itself. Every escalation is an event on its case's chained timeline."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.utils import timezone

from kesu.cases import chain, services
from kesu.cases.models import CaseEvent
from kesu.sla import notify, sweeper
from kesu.sla.models import (
    Notification,
    NotificationPreference,
    StageDeadline,
    WebhookDelivery,
    WebhookSubscription,
)
from tests.perf.bulk import clone_cases
from tests.perf.test_query_counts import Counted, investigating

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


def due_rows(org, warned: int, breached: int):
    """`warned` deadlines inside their warning window and `breached` ones past due (every escalation
    step of the chain due at once), all due for a check at the returned instant; nothing else due."""
    at = timezone.now() + dt.timedelta(days=90)
    cases = clone_cases(investigating(org), warned + breached)
    StageDeadline.objects.update(next_check_at=at + dt.timedelta(days=365))
    warning = StageDeadline.objects.filter(case__in=cases[:warned], state="open")
    warning.update(warn_at=at - dt.timedelta(hours=1), due_at=at + dt.timedelta(hours=1))
    StageDeadline.objects.filter(case__in=cases, state="open").update(next_check_at=at)
    return at


def swept_queries(org, warned: int, breached: int, *, chunk: int = 500) -> tuple[int, sweeper.SweepReport]:
    at = due_rows(org, warned, breached)
    counted = Counted()
    with connection.execute_wrapper(counted):
        report = sweeper.sweep(at, chunk=chunk)
    assert not report.errors, report.errors
    assert (report.warnings, report.breaches) == (warned, breached), report
    return counted.n, report


def test_sweep_queries_do_not_grow_with_the_number_of_due_rows(org):
    """A chunk of due rows is one set: its warnings, breaches (accountability, its supervisor told),
    escalations (events through perform_many, five steps each here) and every notification cost the
    same statements for 3 due rows as for 18 (on SQLite an insert of more than 999 parameters is split
    in parts: both sizes stay within one). The recipients have e-mail, a preference and a webhook
    subscription, so that every read of `notify` is exercised."""
    WebhookSubscription.objects.create(name="OA", url="http://127.0.0.1:9/hook", secret="k")
    NotificationPreference.objects.create(user=org.handler, kind="sla.warning", mode="digest")
    small, first = swept_queries(org, 2, 1)
    large, second = swept_queries(org, 12, 6)
    assert second.escalations == 6 * first.escalations == 30
    assert small == large, (small, large)
    # Every escalation is an event on its case's timeline, every notification written once.
    assert CaseEvent.objects.filter(action="escalate").count() == 35
    assert Notification.objects.filter(kind="sla.escalation").count() > 35
    assert WebhookDelivery.objects.filter(event="sla.escalated").count() == 35
    assert chain.verify_cases().ok


def test_sweep_queries_grow_by_chunk_only(org):
    """With chunks of 10 rows, 21 and 30 breached rows are both three chunks: the same statements."""
    fewer, first = swept_queries(org, 0, 21, chunk=10)
    more, second = swept_queries(org, 0, 30, chunk=10)
    assert (first.escalations, second.escalations) == (105, 150)
    assert fewer == more, (fewer, more)


def test_a_second_sweep_at_the_same_instant_does_nothing(org):
    at = due_rows(org, 3, 3)
    first = sweeper.sweep(at)
    assert first.escalations == 15 and not first.errors
    written = (CaseEvent.objects.count(), Notification.objects.count(), WebhookDelivery.objects.count())
    counted = Counted()
    with connection.execute_wrapper(counted):
        again = sweeper.sweep(at)
    assert (again.examined, again.escalations, again.warnings) == (0, 0, 0)
    assert (
        CaseEvent.objects.count(),
        Notification.objects.count(),
        WebhookDelivery.objects.count(),
    ) == written
    assert counted.n <= 3, counted.n


def test_a_delivery_just_published_is_left_to_its_task(org):
    """The sweep publishes webhook deliveries for its warnings and escalations: their first attempt is
    their task's (after the commit), not one synchronous HTTP call each inside the sweep; a delivery
    whose task was lost is attempted once `FIRST_ATTEMPT_GRACE` has passed."""
    WebhookSubscription.objects.create(name="OA", url="http://127.0.0.1:9/hook", secret="k")
    at = due_rows(org, 2, 0)
    report = sweeper.sweep(at)
    assert report.warnings == 2 and report.webhook_retries == 0
    assert set(WebhookDelivery.objects.values_list("attempts", flat=True)) == {0}
    later = at + notify.FIRST_ATTEMPT_GRACE
    assert notify.retry_due_deliveries(later) == 2
    assert set(WebhookDelivery.objects.values_list("attempts", flat=True)) == {1}
