"""Notifications are stored as a message id and parameters and said in the reader's language
(kesu.sla.messages): a message created while Chinese is active reads in English for an English reader,
and the other way round, on the inbox page, in the inbox API and in the e-mail; rows from before message
ids keep their stored words."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.core import mail
from django.test import Client, override_settings
from django.utils import timezone, translation

from kesu.org.models import Department
from kesu.policy.models import Category
from kesu.policy.selectors import rules_for
from kesu.sla import digest, messages
from kesu.sla.models import Notification, StageDeadline
from kesu.sla.notify import notify, send_email
from kesu.sla.services import propose_accountability
from kesu.sla.sweeper import sweep
from tests import factories
from tests.cases.helpers import Walk

pytestmark = pytest.mark.django_db


CJK = re.compile(r"[\u4e00-\u9fff]")

# Parameters of every message id without Chinese of their own (names, numbers), so that any Chinese in
# the English rendering would come from the stored words.
SAMPLE = {
    "n": "KS-20261207-0001",
    "number": "KS-20261207-0001",
    "subject": "",
    "q": "Please check",
    "r": "KS-20261201-0009",
    "stage": "answer",
    "due_at": "2026-12-10T23:59:59+08:00",
    "step": 2,
    "reason": "breach:answer",
    "person": "Lin",
    "amount": "200",
    "sup_amount": "100",
    "day": "2026-12-06",
    "hour": "2026-12-06 10",
    "observed": 9,
    "expected": "2.1",
    "upper": 6,
    "title": "Group 7",
    "note": "Not needed",
    "t": "Train the night shift",
    "c": "Scripts",
}


def _params(message_id: str) -> dict:
    params = dict(SAMPLE)
    if message_id.startswith("insight."):
        params.update(dimension="total", key="all", label="x")
    if message_id == "digest":
        inner = {k: v for k, v in SAMPLE.items()}
        params = {
            "count": 2,
            "items": [
                {"message_id": "handoff.assigned", "params": inner, "title": "案件分派给您：X", "body": ""},
                {"message_id": "sla.warning", "params": inner, "title": "时限预警：X", "body": "..."},
            ],
        }
    return params


@pytest.mark.parametrize("message_id", sorted(messages.MESSAGES))
def test_every_message_reads_in_the_readers_language(org, message_id):
    with translation.override("zh-hans"):
        (n,) = notify(
            [org.handler], kind="test", message=message_id, params=_params(message_id), key=message_id
        )
    n.refresh_from_db()
    # stored: the id, its parameters and the words in the installation's language
    assert n.message_id == message_id and CJK.search(n.title)
    with translation.override("en"):
        title, body = n.text()
    assert title and not CJK.search(title + body), (title, body)
    with translation.override("zh-hans"):
        assert CJK.search(n.text()[0])


@pytest.mark.parametrize("message_id", sorted(messages.MESSAGES))
def test_a_message_created_in_english_reads_in_chinese(org, message_id):
    with translation.override("en"):
        (n,) = notify(
            [org.handler], kind="test", message=message_id, params=_params(message_id), key=message_id
        )
    n.refresh_from_db()
    # the stored words are the installation's (zh-hans), not those of whoever was active
    assert CJK.search(n.title)
    with translation.override("zh-hans"):
        assert CJK.search(n.text()[0])
    with translation.override("en"):
        assert not CJK.search("".join(n.text()))


def test_handoffs_and_deadline_messages_from_the_real_producers(org):
    o = org
    case = factories.make_case(o.intake)
    walk = Walk(case)
    with translation.override("zh-hans"):
        walk("accept", o.intake)
        walk("assign", o.intake, handler=o.handler.pk)
    n = Notification.objects.get(user=o.handler, kind="handoff.assigned")
    assert n.title == f"案件分派给您：{case.number}" and n.message_id == "handoff.assigned"
    with translation.override("en"):
        assert n.text()[0] == f"Case assigned to you: {case.number}"

    # the sweeper's warning names the stage by its code; each reader sees its label
    stage = StageDeadline.objects.filter(case=case, state="open").order_by("due_at").first()
    with translation.override("zh-hans"):
        sweep(stage.warn_at + dt.timedelta(seconds=1))
    warning = Notification.objects.get(user=o.handler, kind="sla.warning")
    assert warning.params["stage"] == stage.stage
    with translation.override("en"):
        title, body = warning.text()
    assert title.startswith("Deadline warning") and not CJK.search(title + body), (title, body)


def test_penalty_reason_is_a_code_said_in_each_language(org):
    o = org
    case = factories.make_case(o.intake, flags=["injury"], claimed_amount="3000")
    walk = Walk(case)
    walk("accept", o.intake)
    walk("assign", o.intake, handler=o.handler.pk)
    with translation.override("en"):
        propose_accountability(case, rules_for(case.policy_id), reason="breach:answer", now=timezone.now())
    n = Notification.objects.get(
        user=o.quality_head, kind="accountability.proposed", params__reason="breach:answer"
    )
    assert "答复" in n.body  # stored in Chinese although English was active
    with translation.override("en"):
        assert "overdue" in n.text()[1] and "breach" not in n.text()[1]
    # the daily digest lists it in the reader's language too
    digest.send_digests(timezone.now() + dt.timedelta(hours=1))
    listed = Notification.objects.get(user=o.quality_head, kind="digest")
    with translation.override("en"):
        title, body = listed.text()
    assert title.startswith("Daily digest") and "Penalty to confirm" in body and not CJK.search(body)
    with translation.override("zh-hans"):
        assert "待确认责任追究" in listed.text()[1]


def test_inbox_page_and_api_speak_the_readers_language(org):
    with translation.override("zh-hans"):
        notify([org.handler], kind="handoff.panel", message="handoff.panel", params=SAMPLE, key="k-panel")
    page = Client()
    page.force_login(org.handler)
    english = page.get("/inbox/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert SAMPLE["n"] in english and "合议邀请" not in english
    chinese = page.get("/inbox/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert f"合议邀请：{SAMPLE['n']}" in chinese

    items = page.get("/api/v1/sla/inbox", HTTP_ACCEPT_LANGUAGE="en").json()["items"]
    (item,) = [i for i in items if i["message_id"] == "handoff.panel"]
    assert not CJK.search(item["title"]) and item["params"]["n"] == SAMPLE["n"]
    items = page.get("/api/v1/sla/inbox", HTTP_ACCEPT_LANGUAGE="zh-hans").json()["items"]
    assert [i["title"] for i in items if i["message_id"] == "handoff.panel"] == [f"合议邀请：{SAMPLE['n']}"]


def test_email_is_written_in_the_installations_language_whoever_was_active(org):
    with translation.override("en"):
        (n,) = notify(
            [org.handler], kind="handoff.reopened", message="handoff.reopened", params=SAMPLE, key="k-r"
        )
    assert send_email(n.pk)
    assert mail.outbox[-1].subject == f"【客诉系统】案件重新处理：{SAMPLE['n']}"
    with override_settings(LANGUAGE_CODE="en"), translation.override("zh-hans"):
        (m,) = notify(
            [org.handler], kind="handoff.reopened", message="handoff.reopened", params=SAMPLE, key="k-r2"
        )
        assert send_email(m.pk)
    assert not CJK.search(mail.outbox[-1].subject), mail.outbox[-1].subject


def test_rows_from_before_message_ids_keep_their_words(org):
    # What migration sla 0008 leaves on an existing row: no message id, the stored title and body.
    old = Notification.objects.create(
        user=org.handler,
        kind="sla.warning",
        title="时限预警：KS-1 答复",
        body="请及时处理。",
        created_at=timezone.now(),
        dedupe_key="old-row",
    )
    old.refresh_from_db()
    assert old.message_id == "" and old.params == {}
    with translation.override("en"):
        assert old.text() == ("时限预警：KS-1 答复", "请及时处理。")
    page = Client()
    page.force_login(org.handler)
    assert "时限预警：KS-1 答复" in page.get("/inbox/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    # an id this version does not know falls back the same way
    assert messages.render("gone.kind", {}, "旧标题", "旧内容") == ("旧标题", "旧内容")


def test_surge_labels_are_names_said_through_their_rows(org):
    category = Category.objects.filter(is_active=True).exclude(name_en="").first()
    params = {
        "dimension": "category",
        "key": str(category.pk),
        "label": category.name,
        "day": "2026-12-06",
        "observed": 9,
        "expected": "2.1",
        "upper": 6,
    }
    with translation.override("en"):
        title, body = messages.render("insight.surge", params)
    assert category.name_en in title and category.name not in title + body
    dept = Department.objects.create(code="X-EN", name="测试部", name_en="Test Department")
    with translation.override("en"):
        title, _ = messages.render("insight.surge", {**params, "dimension": "branch", "key": str(dept.pk)})
    assert "Test Department" in title
