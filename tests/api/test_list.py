"""Listing cases: filters and cursor pagination."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from kesu.cases.models import Case
from tests import factories
from tests.api.conftest import walk_to


def _numbers(response) -> list[str]:
    assert response.status_code == 200, response.content.decode()
    return [c["number"] for c in response.json()["items"]]


def test_cursor_pagination_has_no_duplicates_or_gaps(api, org):
    base = timezone.now() - dt.timedelta(days=3)
    # Several cases share one received_at, so the id must break ties.
    for i in range(23):
        factories.make_case(org.intake, received_at=(base + dt.timedelta(hours=i // 4)).isoformat())
    expected = list(Case.objects.order_by("-received_at", "-id").values_list("number", flat=True))
    client = api(org.supervisor)
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": 5, **({"cursor": cursor} if cursor else {})}
        body = client.get("/cases", params).json()
        seen += [c["number"] for c in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
        # A case registered meanwhile (newest) must not shift later pages.
        if pages == 2:
            factories.make_case(org.intake)
    assert pages == 5
    assert seen == expected


def test_filters(api, org):
    now = timezone.now()
    old = factories.make_case(
        org.intake, received_at=(now - dt.timedelta(days=40)).isoformat(), channel="email", subject="旧案"
    )
    phone_case = factories.make_case(org.intake, customer={"name": "赵六", "phone": "13700001111"})
    media = factories.make_case(org.intake, channel="media", category="contract")
    working = walk_to(api, org, "investigating")
    sup = api(org.supervisor)

    assert set(_numbers(sup.get("/cases", {"status": "investigating"}))) == {working.number}
    assert set(_numbers(sup.get("/cases", {"status": "registered,investigating"}))) == {
        old.number,
        phone_case.number,
        media.number,
        working.number,
    }
    assert _numbers(sup.get("/cases", {"channel": "email"})) == [old.number]
    assert media.number in _numbers(sup.get("/cases", {"level": "crisis"}))
    assert old.number not in _numbers(sup.get("/cases", {"level": "crisis"}))
    assert _numbers(sup.get("/cases", {"category": "contract"})) == [media.number]
    assert set(_numbers(sup.get("/cases", {"category": "product"}))) == {
        old.number,
        phone_case.number,
        working.number,
    }
    assert _numbers(sup.get("/cases", {"department": "QUALITY"})) == [working.number]
    assert _numbers(sup.get("/cases", {"handler": org.handler.pk})) == [working.number]
    assert _numbers(sup.get("/cases", {"kind": "complaint", "text": "13700001111"})) == [phone_case.number]
    assert _numbers(sup.get("/cases", {"text": old.number})) == [old.number]
    since = (now - dt.timedelta(days=7)).isoformat()
    assert old.number not in _numbers(sup.get("/cases", {"received_from": since}))
    assert _numbers(sup.get("/cases", {"received_to": since})) == [old.number]

    Case.objects.filter(pk=working.pk).update(due_at=now - dt.timedelta(hours=1))
    Case.objects.exclude(pk=working.pk).update(due_at=now + dt.timedelta(days=1))
    assert _numbers(sup.get("/cases", {"overdue": "true"})) == [working.number]
    body = sup.get("/cases", {"overdue": "true"}).json()
    assert body["items"][0]["overdue"] is True
    assert working.number not in _numbers(sup.get("/cases", {"overdue": "false"}))


def test_list_is_scoped_to_what_the_reader_may_see(api, org):
    working = walk_to(api, org, "assigned")  # QUALITY
    other = factories.make_case(org.intake)
    assert _numbers(api(org.handler2).get("/cases")) == [working.number]  # same department
    assert _numbers(api(org.claims_handler).get("/cases")) == []
    assert set(_numbers(api(org.supervisor).get("/cases"))) == {working.number, other.number}


def test_a_list_page_costs_a_constant_number_of_queries(api, org, django_assert_max_num_queries):
    for _ in range(30):
        factories.make_case(org.intake)
    client = api(org.supervisor)
    client.get("/cases", {"limit": 2})  # warm up: token, roles
    with django_assert_max_num_queries(8):
        r = client.get("/cases", {"limit": 30})
    assert len(r.json()["items"]) == 30
