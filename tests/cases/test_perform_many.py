"""`perform_many`: the same guarantees as `perform` (transition table, permission, version, chained
events, subscribers, one transaction) for a set of cases, in a fixed number of statements."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from kesu.cases import chain
from kesu.cases.models import Case, CaseEvent
from kesu.cases.services import perform, perform_many
from kesu.errors import Conflict, IllegalTransition, NotFound
from tests import factories
from tests.cases import recording_subscriber
from tests.perf.bulk import clone_cases

pytestmark = pytest.mark.django_db


@pytest.fixture
def recorder(settings):
    recording_subscriber.seen.clear()
    recording_subscriber.refuse_action = None
    settings.KESU_CASE_EVENT_SUBSCRIBERS = [
        *settings.KESU_CASE_EVENT_SUBSCRIBERS,
        "tests.cases.recording_subscriber",
    ]
    yield recording_subscriber
    recording_subscriber.refuse_action = None


def escalation(step: int) -> dict:
    return {"stage": "answer", "ref": "", "step": step, "role": "supervisor", "notified": [], "due_at": "x"}


def test_events_follow_each_case_in_order_with_versions_and_a_valid_chain(org, recorder):
    a, b = factories.make_case(org.intake), factories.make_case(org.intake)
    perform(a, "accept", org.intake)
    result = perform_many(
        "escalate", [(a.pk, escalation(1)), (b.pk, escalation(1)), (a.pk, escalation(2))], None
    )
    assert not result.refused and all(e is not None and e.pk for e in result.events)
    a.refresh_from_db()
    b.refresh_from_db()
    assert (a.version, b.version) == (4, 2)
    assert list(a.events.values_list("seq", "action")) == [
        (1, "register"),
        (2, "accept"),
        (3, "escalate"),
        (4, "escalate"),
    ]
    assert a.events.get(seq=4).payload["step"] == 2
    # Every subscriber saw every event before it was written (the recorder marks its payload).
    assert [(act, seq, unsaved) for _, act, seq, unsaved in recorder.seen[-3:]] == [
        ("escalate", 3, True),
        ("escalate", 2, True),
        ("escalate", 4, True),
    ]
    assert all(e.payload.get("recorded") for e in CaseEvent.objects.filter(action="escalate"))
    assert chain.verify_cases().ok


def test_a_missing_or_refused_case_is_reported_and_the_others_done(org):
    a = factories.make_case(org.intake)
    result = perform_many("accept", [(a.pk, {}), (10**9, {})], org.intake)
    assert isinstance(result.refused[1], NotFound) and result.events[0] is not None
    a.refresh_from_db()
    assert a.status == "accepted"
    again = perform_many("accept", [(a.pk, {})], org.intake)  # accepted already: not from this status
    assert isinstance(again.refused[0], IllegalTransition)
    assert chain.verify_cases().ok


def test_a_subscriber_refusing_rolls_the_whole_set_back(org, recorder):
    a, b = factories.make_case(org.intake), factories.make_case(org.intake)
    recorder.refuse_action = "escalate"
    with pytest.raises(Conflict):
        perform_many("escalate", [(a.pk, escalation(1)), (b.pk, escalation(1))], None)
    assert set(Case.objects.filter(pk__in=[a.pk, b.pk]).values_list("version", flat=True)) == {1}
    assert not CaseEvent.objects.filter(action="escalate").exists()


def test_only_system_actions_without_a_person(org):
    a = factories.make_case(org.intake)
    result = perform_many("accept", [(a.pk, {})], None)
    assert result.refused[0].code != "ok" and result.events == [None]


def test_queries_do_not_grow_with_the_size_of_the_set(org):
    template = factories.make_case(org.intake)
    small = clone_cases(template, 3)
    large = clone_cases(template, 30)
    perform_many("escalate", [(template.pk, escalation(1))], None)  # warm: rules

    def count(cases) -> int:
        with CaptureQueriesContext(connection) as ctx:
            result = perform_many("escalate", [(c.pk, escalation(1)) for c in cases], None)
        assert not result.refused
        return len(ctx.captured_queries)

    assert count(small) == count(large)
    assert chain.verify_cases().ok
