"""The one list of case-event subscribers: called by perform in order, inside its transaction."""

from __future__ import annotations

import pytest
from django.conf import settings

from kesu.cases import subscribers
from kesu.cases.models import Case, CaseEvent
from kesu.cases.services import perform
from kesu.errors import Conflict
from tests import factories
from tests.cases import recording_subscriber

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


def test_every_listed_subscriber_is_a_module_with_on_event():
    for module in subscribers.subscribers():
        assert callable(module.on_event), module.__name__
    assert [m.__name__ for m in subscribers.subscribers()] == settings.KESU_CASE_EVENT_SUBSCRIBERS


def test_registration_and_actions_reach_the_subscribers_before_the_event_is_written(recorder):
    org = factories.org()
    case = factories.make_case(org.intake)
    perform(case, "accept", org.supervisor, category="service.attitude")
    assert [(a, seq, unsaved) for _, a, seq, unsaved in recorder.seen] == [
        ("register", 1, True),
        ("accept", 2, True),
    ]
    # what a subscriber adds to the payload is part of the written event
    assert CaseEvent.objects.get(case=case, seq=2).payload["recorded"] is True


def test_a_subscriber_that_refuses_rolls_the_whole_action_back(recorder):
    org = factories.org()
    case = factories.make_case(org.intake)
    recorder.refuse_action = "accept"
    with pytest.raises(Conflict):
        perform(case, "accept", org.supervisor, category="service.attitude")
    stored = Case.objects.get(pk=case.pk)
    assert (stored.status, stored.version) == ("registered", 1)
    assert list(CaseEvent.objects.filter(case=case).values_list("seq", flat=True)) == [1]
