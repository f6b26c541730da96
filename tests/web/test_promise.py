"""The complainant is told the time limit: on the portal after submitting, on the printable
acknowledgement, and again on the progress page with every extension, pause and resumption
(003 恒康天安 第五条(一), 000 第3篇)."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.test import Client
from django.utils import translation

from kesu.calendar.workcalendar import SHANGHAI
from kesu.cases.models import Case
from kesu.cases.services import register_case
from kesu.sla.models import StageDeadline
from kesu.sla.selectors import promise_text
from tests import factories
from tests.cases.helpers import Walk

pytestmark = pytest.mark.django_db


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def test_portal_states_the_promised_date_right_after_submitting(client, org):
    r = client.post(
        "/portal/submit/",
        {
            "client_key": uuid.uuid4().hex,
            "name": "赵女士",
            "phone": "13812345678",
            "kind": "complaint",
            "category": "delivery",
            "description": "订购的冰箱两周还没有送到。",
            "consent": "on",
        },
        follow=True,
    )
    case = Case.objects.get()
    due = StageDeadline.objects.get(case=case, stage="answer").due_at.astimezone(SHANGHAI)
    # general preset: 000 第2篇 第七条二, 3 working days from receipt
    expected = f"3 个工作日内答复（最迟 {due:%Y-%m-%d}）"
    assert expected in r.content.decode()
    # and the promise is kept on the public registration event, as it was told
    assert case.events.get(seq=1).payload["answer_promise"]["text"] == expected


def test_acknowledgement_and_progress_tell_the_limit_extensions_and_pauses(org):
    case = register_case(
        actor=org.intake,
        data=factories.complaint_data(customer={"name": "钱先生", "phone": "13566667777"}),
        now=at("2026-12-07 10:00"),  # a Monday
    ).case
    staff = Client()
    staff.force_login(org.intake)
    ack = staff.get(f"/cases/{case.number}/acknowledgement/").content.decode()
    assert "3 个工作日内答复（最迟 2026-12-10）" in ack and case.number in ack

    walk = Walk(case)
    walk("accept", org.intake, now=at("2026-12-07 10:05"))
    walk("assign", org.intake, handler=org.handler.pk, now=at("2026-12-07 10:10"))
    walk("start_investigation", org.handler, contacted_customer=True, now=at("2026-12-07 11:00"))
    walk("extend_deadline", org.supervisor, days=2, reason="需调取物流记录", now=at("2026-12-08 09:00"))

    portal = Client()

    def progress() -> str:
        return portal.post(
            "/portal/progress/", {"number": case.number, "phone_last4": "7777"}
        ).content.decode()

    html = progress()
    assert "答复期限延长 2 个工作日。原因：需调取物流记录" in html
    assert "3 个工作日内答复，已延长 2 个工作日（最迟 2026-12-14）" in html
    # the original promise stays on the registration row
    assert "3 个工作日内答复（最迟 2026-12-10）" in html

    walk("suspend", org.handler, reason="等待客户补充发票", now=at("2026-12-09 09:00"))
    html = progress()
    assert "暂停处理，答复期限暂停计算。原因：等待客户补充发票" in html
    assert "暂停计算（暂结案期间）" in html
    walk("resume", org.handler, note="客户已补充", now=at("2026-12-11 09:00"))
    resumed = case.events.get(action="resume").payload["answer_promise"]
    # paused for two working days (Wed 09:00 → Fri 09:00): the latest date moves on by two
    assert resumed["text"] == "3 个工作日内答复，已延长 2 个工作日（最迟 2026-12-16）"
    assert resumed["text"] in progress()
    walk.assert_timeline()


def test_the_promise_is_kept_as_data_and_read_in_the_readers_language(org):
    """The promise on an event is what was promised (limit, extension, latest instant), not the words of
    the language active when it was made: a Chinese-made promise reads in English, and the other way round."""
    with translation.override("zh-hans"):
        case = register_case(
            actor=org.intake,
            data=factories.complaint_data(customer={"name": "钱先生", "phone": "13566667777"}),
            now=at("2026-12-07 10:00"),  # a Monday
        ).case
    with translation.override("en"):
        walk = Walk(case)
        walk("accept", org.intake, now=at("2026-12-07 10:05"))
        walk("assign", org.intake, handler=org.handler.pk, now=at("2026-12-07 10:10"))
        walk("start_investigation", org.handler, contacted_customer=True, now=at("2026-12-07 11:00"))
        walk("extend_deadline", org.supervisor, days=1, reason="需调取物流记录", now=at("2026-12-08 09:00"))
    kept = case.events.get(seq=1).payload["answer_promise"]
    assert kept["message_id"] == "promise.answer" and kept["amount"] == 3 and kept["unit"] == "working_days"
    # the record's words are the installation's, whoever was active
    assert case.events.get(action="extend_deadline").payload["answer_promise"]["text"] == (
        "3 个工作日内答复，已延长 1 个工作日（最迟 2026-12-11）"
    )

    def progress(language: str) -> str:
        return (
            Client(HTTP_ACCEPT_LANGUAGE=language)
            .post("/portal/progress/", {"number": case.number, "phone_last4": "7777"})
            .content.decode()
        )

    english = progress("en")
    assert "answer within 3 working days (at the latest 2026-12-10)" in english
    # one day of extension: the singular
    assert "answer within 3 working days, extended by 1 working day (at the latest 2026-12-11)" in english
    assert "内答复" not in english
    chinese = progress("zh-hans")
    assert "3 个工作日内答复（最迟 2026-12-10）" in chinese
    assert "3 个工作日内答复，已延长 1 个工作日（最迟 2026-12-11）" in chinese


def test_a_promise_kept_before_promises_were_data_keeps_its_words():
    old = {
        "amount": 3,
        "unit": "working_days",
        "due_at": "2026-12-10T23:59:59+08:00",
        "text": "3 个工作日内答复（最迟 2026-12-10）",
    }
    with translation.override("en"):
        assert promise_text(old) == "3 个工作日内答复（最迟 2026-12-10）"
        assert (
            promise_text({**old, "message_id": "promise.answer"})
            == "answer within 3 working days (at the latest 2026-12-10)"
        )
        assert promise_text(None) == ""
