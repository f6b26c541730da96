"""A repeat while the first case is still open chases that case (催办, 003 电信分公司 ㈡2⑴, behind
`repeats.chase_open_case`), and a complaint made straight to head office or senior leaders (直接投诉/越级投诉)
is marked at registration and handled first."""

from __future__ import annotations

import datetime as dt

import pytest

from kesu.calendar.workcalendar import SHANGHAI
from kesu.cases.models import Case
from kesu.cases.services import register_case
from kesu.sla.models import Notification
from kesu.web.selectors import apply_sort
from tests import factories
from tests.cases.helpers import Walk

pytestmark = pytest.mark.django_db


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def telecom_complaint(**overrides):
    data = factories.complaint_data(
        category="network",
        description="家里手机没信号，打不出电话。",
        customer={"name": "孙先生", "phone": "13377778888"},
    )
    data.update(overrides)
    return data


def test_repeat_while_open_chases_the_open_case_and_tells_its_handler_and_supervisor():
    o = factories.org("telecom")
    first = register_case(actor=o.intake, data=telecom_complaint(), now=at("2026-12-07 09:00")).case
    walk = Walk(first)
    walk("accept", o.intake, now=at("2026-12-07 09:10"))
    walk("assign", o.intake, department="QUALITY", handler=o.handler.pk, now=at("2026-12-07 09:20"))
    walk("start_investigation", o.handler, contacted_customer=True, now=at("2026-12-07 10:00"))

    again = register_case(actor=o.intake, data=telecom_complaint(), now=at("2026-12-08 09:00")).case
    # the repeat is recorded (and counted) as its own case, linked to the open one ...
    assert again.repeat_of_id == first.pk and again.repeat_count == 2
    # ... and the open case is chased: an event on its timeline, seen by the complainant too
    walk.expected.append((5, "chase", "investigating", "investigating"))
    walk.assert_timeline()
    chase = first.events.get(action="chase")
    assert chase.payload["repeat"] == again.number and chase.is_public
    assert chase.actor is None
    # the handler and their supervisor (the department head) and the supervisors are told
    title = f"催办：客户再次来电，案件仍在处理中：{first.number}（{again.number}）"
    for person in (o.handler, o.quality_head, o.supervisor):
        assert Notification.objects.filter(user=person, kind="handoff.chase", title=title).exists(), person
    assert not Notification.objects.filter(user=o.handler2, kind="handoff.chase").exists()


def test_without_the_key_a_repeat_only_opens_the_linked_case(org):
    first = factories.make_case(org.intake, customer={"name": "周女士", "phone": "13611112222"})
    again = register_case(
        actor=org.intake,
        data=factories.complaint_data(customer={"name": "周女士", "phone": "13611112222"}),
    ).case
    assert again.repeat_of_id == first.pk
    assert not first.events.filter(action="chase").exists()


def test_a_finished_case_is_not_chased():
    o = factories.org("telecom")
    first = register_case(actor=o.intake, data=telecom_complaint(), now=at("2026-12-07 09:00")).case
    Walk(first)("mark_invalid", o.intake, reason="not_specific", now=at("2026-12-07 09:30"))
    register_case(actor=o.intake, data=telecom_complaint(), now=at("2026-12-08 09:00"))
    assert not first.events.filter(action="chase").exists()


def test_direct_complaint_is_marked_and_handled_first(org, client):
    plain = factories.make_case(org.intake)
    direct = factories.make_case(org.intake, flags=["direct"])
    assert direct.flag_direct and direct.level == "urgent"
    assert {
        "rule": "flag:direct",
        "level": "urgent",
        "detail": "直接投诉至总部/高层领导",
    } in direct.level_reasons
    # the queue sorted by priority shows it first
    ordered = list(apply_sort(Case.objects.all(), "-level").values_list("pk", flat=True))
    assert ordered.index(direct.pk) < ordered.index(plain.pk)
    client.force_login(org.supervisor)
    assert 'id="flag-direct"' in client.get(f"/cases/{direct.number}/").content.decode()
