"""The time the guest asks for (001 篇8 六二）1): a hotel complaint made during the stay is answered by the
time the guest asks for; one without a time (after the stay) within 3 working days (六二）2).

Walked through `register_case`, the API and the intake form, as the complainant, the handler and the
lobby manager would see it: the answer deadline, the case's binding deadline and the promise told."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.http import QueryDict

from kesu.calendar.workcalendar import format_instant
from kesu.cases.models import Case
from kesu.cases.services import perform, register_case
from kesu.errors import Invalid
from kesu.policy.explain import explain_lines
from kesu.policy.loader import PolicyError, resolve_preset, validate
from kesu.policy.selectors import active_rules
from kesu.policy.services import load_preset
from kesu.sla.models import StageDeadline
from kesu.sla.selectors import promise_text
from kesu.web.intake import preview
from tests import factories
from tests.api.conftest import Api

from .helpers import at

pytestmark = pytest.mark.django_db

GUEST = {"name": "王先生", "phone": "13900001111"}


def register_at(org, when: str, **overrides) -> Case:
    now = at(when)
    data = factories.complaint_data(
        received_at=now.isoformat(), category="room.noise", customer=GUEST, **overrides
    )
    return register_case(actor=org.intake, data=data, now=now).case


def answer(case: Case) -> StageDeadline:
    return StageDeadline.objects.get(case=case, stage="answer")


@pytest.fixture
def hotel():
    return factories.org("hotel")


def test_a_complaint_during_the_stay_is_answered_by_the_guests_time(hotel):
    # Tuesday 10:00: the guest wants the noise dealt with by 13:00, not within 3 working days.
    case = register_at(hotel, "2026-11-24 10:00", customer_due_at="2026-11-24T13:00:00+08:00")
    stage = answer(case)
    assert format_instant(stage.due_at) == "2026-11-24T13:00:00+08:00"
    assert (stage.amount, stage.unit) == (3, "calendar_hours")
    assert (
        stage.rule_source
        == "hotel:answer customer_time from received [kinds=complaint/query/suggestion/consultation]"
    )
    # The handler's binding deadline is the guest's time (the earliest open stage).
    case.refresh_from_db()
    assert format_instant(case.due_at) == "2026-11-24T13:00:00+08:00"
    assert format_instant(case.customer_due_at) == "2026-11-24T13:00:00+08:00"
    # What the guest is told at registration states that time.
    promise = case.events.get(seq=1).payload["answer_promise"]
    assert promise_text(promise) == "3 小时内答复（最迟 2026-11-24 13:00）"
    # Warned at 80 % of the clock time (12:24), breached after 13:00.
    assert format_instant(stage.warn_at) == "2026-11-24T12:24:00+08:00"


def test_a_complaint_without_a_time_keeps_the_three_working_days(hotel):
    case = register_at(hotel, "2026-11-24 10:00")
    stage = answer(case)
    assert (stage.amount, stage.unit) == (3, "working_days")
    assert stage.due_at.astimezone(at("2026-11-24 10:00").tzinfo).date() == dt.date(2026, 11, 27)
    assert promise_text(case.events.get(seq=1).payload["answer_promise"]).startswith("3 个工作日内答复")


def test_the_guests_time_decides_even_when_later_than_three_working_days(hotel):
    # The seed's limit is the guest's time: a guest who asks for next Wednesday is not made late on Friday.
    case = register_at(hotel, "2026-11-24 10:00", customer_due_at="2026-12-02T18:00:00+08:00")
    stage = answer(case)
    assert format_instant(stage.due_at) == "2026-12-02T18:00:00+08:00"
    assert (stage.amount, stage.unit) == (200, "calendar_hours")
    # A time that is not a whole number of hours away is promised to the minute, the hours rounded up.
    other = register_at(hotel, "2026-11-24 10:00", customer_due_at="2026-11-24T12:30:00+08:00")
    assert (answer(other).amount, format_instant(answer(other).due_at)) == (3, "2026-11-24T12:30:00+08:00")


def test_an_extension_moves_the_guests_time(hotel):
    case = register_at(hotel, "2026-11-24 10:00", customer_due_at="2026-11-24T13:00:00+08:00")
    perform(case, "accept", hotel.intake, now=at("2026-11-24 10:05"))
    perform(
        case,
        "assign",
        hotel.intake,
        now=at("2026-11-24 10:06"),
        department="QUALITY",
        handler=hotel.handler.pk,
    )
    perform(
        case,
        "extend_deadline",
        hotel.supervisor,
        now=at("2026-11-24 11:00"),
        days=1,
        reason="需工程部更换空调",
    )
    stage = answer(case)
    # An extension adds working days as the engine always does: to the end of the next working day.
    assert format_instant(stage.base_due_at) == "2026-11-24T13:00:00+08:00"
    assert format_instant(stage.due_at) == "2026-11-25T23:59:59+08:00"
    assert promise_text(case.events.order_by("-seq").first().payload["answer_promise"]) == (
        "3 小时内答复，已延长 1 个工作日（最迟 2026-11-25 23:59）"
    )


def test_a_time_before_the_receipt_is_refused(hotel):
    with pytest.raises(Invalid) as exc:
        register_at(hotel, "2026-11-24 10:00", customer_due_at="2026-11-24T09:00:00+08:00")
    assert exc.value.details == {"customer_due_at": "客人要求的解决时间须晚于接收时间"}
    with pytest.raises(Invalid) as exc:
        register_at(hotel, "2026-11-24 10:00", customer_due_at="明天中午")
    assert exc.value.details == {"customer_due_at": "时间格式无效"}
    assert not Case.objects.exists()


def test_the_api_takes_the_guests_time_and_refuses_one_before_receipt(hotel):
    client = Api(hotel.intake)
    body = factories.complaint_data(
        category="room.noise",
        customer=GUEST,
        received_at="2026-11-24T10:00:00+08:00",
        customer_due_at="2026-11-24T09:30:00+08:00",
    )
    r = client.post("/cases", body)
    assert r.status_code == 422, r.content.decode()
    error = r.json()
    assert error["code"] == "validation_error"
    assert error["details"] == {"customer_due_at": "客人要求的解决时间须晚于接收时间"}
    assert "客人要求的解决时间须晚于接收时间" in error["message"]

    r = client.post("/cases", {**body, "customer_due_at": "2026-11-24T13:00:00+08:00"})
    assert r.status_code == 201, r.content.decode()
    case = r.json()["case"]
    assert case["customer_due_at"].startswith("2026-11-24T05:00:00")  # 13:00 Beijing, stored in UTC
    stages = {s["stage"]: s for s in client.get(f"/cases/{case['number']}").json()["deadlines"]["stages"]}
    assert stages["answer"]["due_at"].startswith("2026-11-24T05:00:00")


def test_the_general_preset_ignores_the_field_and_its_absence(org):
    # No rule reads the time under the general preset: with or without it, the general answer rule binds.
    plain = register_case(
        actor=org.intake, data=factories.complaint_data(received_at=at("2026-11-24 10:00").isoformat())
    ).case
    asked = register_case(
        actor=org.intake,
        data=factories.complaint_data(
            received_at=at("2026-11-24 10:00").isoformat(), customer_due_at="2026-11-24T13:00:00+08:00"
        ),
    ).case
    assert not active_rules().uses_customer_time
    assert answer(plain).unit == answer(asked).unit == "working_days"
    assert answer(plain).due_at == answer(asked).due_at


def test_the_intake_form_asks_for_the_time_only_where_a_rule_uses_it(client, org):
    client.force_login(org.intake)
    assert 'name="customer_due_at"' not in client.get("/intake/").content.decode()
    load_preset("hotel")
    page = client.get("/intake/").content.decode()
    assert 'name="customer_due_at"' in page and "客人要求的解决时间" in page
    in_three_hours = (dt.datetime.now(at("2026-11-24 10:00").tzinfo) + dt.timedelta(hours=3)).replace(
        second=0, microsecond=0
    )
    r = client.post(
        "/intake/",
        {
            "client_key": uuid.uuid4().hex,
            "name": "王先生",
            "phone": "13900001111",
            "channel": "phone",
            "kind": "complaint",
            "category": "room.noise",
            "description": "隔壁房间装修，太吵了，无法休息。",
            "people_count": "1",
            "customer_due_at": in_three_hours.strftime("%Y-%m-%dT%H:%M"),
        },
    )
    assert r.status_code == 302, r.content.decode()[:2000]
    case = Case.objects.get()
    assert case.customer_due_at == in_three_hours
    assert answer(case).due_at == in_three_hours
    # A time before the receipt is shown on its field, nothing is saved.
    r = client.post(
        "/intake/",
        {
            "client_key": uuid.uuid4().hex,
            "phone": "13900001111",
            "channel": "phone",
            "kind": "complaint",
            "description": "隔壁房间装修，太吵了，无法休息。",
            "people_count": "1",
            "customer_due_at": "2026-01-01T09:00",
        },
    )
    assert r.status_code == 200 and "客人要求的解决时间须晚于接收时间" in r.content.decode()
    assert Case.objects.count() == 1


def test_hotel_explain_prints_the_guests_time_with_its_seed():
    lines = explain_lines(resolve_preset("hotel"))
    assert (
        "  答复客户（投诉、查询、建议、咨询）：自收到投诉起 至客人要求的时间"
        "（以客人要求的解决时间为准，按钟点连续计算；未提出时间的不适用本条）。"
        "依据：001 篇8 六二）1（消费中投诉原则上不得超过客人要求给予处理的时间）［hotel］"
    ) in lines


def test_a_customer_time_rule_takes_no_amount_and_a_boolean():
    doc = resolve_preset("hotel")
    rule = next(r for r in doc["sla"]["rules"] if r.get("customer_time"))
    rule.update(amount=3, unit="working_days")
    with pytest.raises(PolicyError, match="customer_time rule takes no amount or unit"):
        validate(doc)
    del rule["amount"], rule["unit"]
    rule["customer_time"] = "yes"
    with pytest.raises(PolicyError, match="customer_time must be true or false"):
        validate(doc)


def test_the_intake_preview_shows_the_guests_time(hotel):
    data = QueryDict(mutable=True)
    data.update(
        {
            "channel": "phone",
            "kind": "complaint",
            "received_at": "2026-11-24T10:00",
            "customer_due_at": "2026-11-24T13:00",
        }
    )
    answers = [d for d in preview(data, hotel.intake)["deadlines"] if d["stage"] == "答复客户"]
    assert [(format_instant(d["due_at"]), d["duration"]) for d in answers] == [
        ("2026-11-24T13:00:00+08:00", "3 小时")
    ]
