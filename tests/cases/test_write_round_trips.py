"""What the write path no longer reads on its own, and the answers it must still give.

`register_case` does not look its idempotency key up before a new registration (the record's unique
key refuses a retry at its insert), `find_customer` reads every identifier in one statement, and
`perform` reads the chain head with the statement that locks the case. Each keeps its answer: a retry
is the earlier case (also when its body would now be refused), the strongest identifier wins, and an
event is chained to the case's last one also when the locked row's version has no event in the
statement's snapshot (a concurrent action committed while this one waited for the lock).
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from kesu.cases import chain
from kesu.cases.customers import find_customer
from kesu.cases.models import Case, CaseEvent, Customer, IdempotencyRecord
from kesu.cases.services import perform, register_case
from kesu.errors import Conflict, Invalid
from tests import factories

pytestmark = pytest.mark.django_db


def test_a_retry_is_answered_with_the_earlier_case(org):
    data = factories.complaint_data()
    first = register_case(actor=org.intake, data=data, idempotency_key="k-1")
    again = register_case(actor=org.intake, data=data, idempotency_key="k-1")
    assert first.created and not again.created and again.case.pk == first.case.pk
    assert Case.objects.count() == 1 and IdempotencyRecord.objects.count() == 1
    assert first.case.events.count() == 1  # the retry's registration was rolled back with its event
    with pytest.raises(Conflict):
        register_case(actor=org.intake, data=factories.complaint_data(), idempotency_key="k-1")
    assert Case.objects.count() == 1


def test_a_retry_whose_body_would_now_be_refused_still_gets_its_case(org):
    """The body is checked before the registration; a refusal looks the key up first, as before."""
    now = timezone.now()
    data = factories.complaint_data(received_at=now.isoformat())
    first = register_case(actor=org.intake, data=data, idempotency_key="k-2", now=now)
    # An hour earlier by the server's clock, the same receipt time lies in the future: refused as new …
    with pytest.raises(Invalid):
        register_case(actor=org.intake, data=data, now=now - dt.timedelta(hours=1))
    # … but a retry under the key is the case registered the first time.
    again = register_case(actor=org.intake, data=data, idempotency_key="k-2", now=now - dt.timedelta(hours=1))
    assert not again.created and again.case.pk == first.case.pk


def test_the_strongest_identifier_wins_in_one_statement(org, django_assert_num_queries):
    by_phone = Customer.objects.create(name="甲", phone="13900000001")
    by_policy = Customer.objects.create(name="乙", policy_no="PB1")
    by_id = Customer.objects.create(name="丙", id_number="11010519491231002X")
    with django_assert_num_queries(1):
        found = find_customer(phone="13900000001", policy_no="PB1", id_number="11010519491231002x")
    assert found == by_id
    with django_assert_num_queries(1):  # a new complainant: no identifier matches
        assert find_customer(phone="13900000009", policy_no="PB9", id_number="110105194912310029") is None
    assert find_customer(phone="13900000001", policy_no="PB1") == by_phone
    assert find_customer(phone="13900000009", policy_no="PB1") == by_policy
    assert find_customer(phone="13900000009", policy_no="PB9") is None
    Customer.objects.create(name="丁", phone="13900000001")  # a later customer with the same phone
    assert find_customer(phone="13900000001") == by_phone


def test_each_action_is_chained_to_the_last_event(org):
    case = factories.make_case(org.intake)
    perform(case, "accept", org.intake)
    perform(case, "assign", org.intake, handler=org.handler.pk)
    perform(case, "add_note", org.handler, text="已致电客户")
    events = list(CaseEvent.objects.filter(case=case).order_by("seq"))
    assert [e.seq for e in events] == [1, 2, 3, 4]
    for earlier, later in zip(events, events[1:], strict=False):
        assert later.prev_hash == earlier.hash and later.hash == chain.hash_of(later)


def test_a_version_without_its_event_in_view_reads_the_head_under_the_lock(org):
    """As when a concurrent action committed while this one waited for the row lock: the locking
    statement's subquery finds no event for the row's (new) version, and `chain.seal` reads the head."""
    case = factories.make_case(org.intake)
    perform(case, "accept", org.intake)
    perform(case, "assign", org.intake, handler=org.handler.pk)
    last = CaseEvent.objects.filter(case=case).order_by("-seq").first()
    Case.objects.filter(pk=case.pk).update(version=7)  # no event has seq 7
    event = perform(case.pk, "add_note", org.handler, text="已致电客户")
    assert event.seq == 8 and event.prev_hash == last.hash
