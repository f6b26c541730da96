"""A case created before National Day, with a collaboration request, breaches its answer deadline:
warning → breach → escalation chain in order → accountability → e-mail and signed webhook; a second
sweep changes nothing."""

from __future__ import annotations

import json

import pytest

from kesu.cases.models import Accountability, CaseEvent
from kesu.cases.services import perform
from kesu.sla.models import Notification, StageDeadline, WebhookAttempt, WebhookSubscription
from kesu.sla.notify import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from kesu.sla.sweeper import sweep

from .helpers import at, register, to_investigation

pytestmark = pytest.mark.django_db


def run_sweep(when, capture):
    with capture(execute=True):
        return sweep(at(when))


def test_breach_warns_escalates_in_order_and_notifies_once(
    org, smtp_sink, webhook_receiver, immediate_tasks, django_capture_on_commit_callbacks
):
    WebhookSubscription.objects.create(name="OA", url=webhook_receiver["url"], secret="s3cret")
    # A normal complaint: 3 working days to answer (a major one is answered the same day, 000 第2篇 第九条,
    # tests/sla/test_same_day.py).
    case = register(org, "2026-09-29 10:00")
    to_investigation(org, case, "2026-09-29 10:05")
    perform(
        case,
        "request_collaboration",
        org.handler,
        now=at("2026-09-30 09:00"),
        department="FINANCE",
        question="请核实付款记录",
    )
    answer = StageDeadline.objects.get(case=case, stage="answer")
    assert answer.due_at == at("2026-10-09 23:59:59")  # 30 Sep, 8 Oct, 9 Oct

    r = run_sweep("2026-10-08 09:00", django_capture_on_commit_callbacks)
    assert r.warnings == 0 and r.breaches == 0

    r = run_sweep("2026-10-09 12:00", django_capture_on_commit_callbacks)
    assert r.warnings == 1 and r.breaches == 0
    warn = Notification.objects.get(user=org.handler, kind="sla.warning")
    assert case.number in warn.title
    assert any("handler@example.test" in m["to"] for m in smtp_sink)

    r = run_sweep("2026-10-10 10:00", django_capture_on_commit_callbacks)  # working Saturday
    assert r.breaches == 1 and r.escalations == 1
    r = run_sweep("2026-10-20 10:00", django_capture_on_commit_callbacks)
    esc = [
        e
        for e in CaseEvent.objects.filter(case=case, action="escalate").order_by("seq")
        if e.payload["stage"] == "answer"
    ]
    assert [e.payload["role"] for e in esc] == [
        "handler",
        "dept_head",
        "supervisor",
        "cs_manager",
        "general_manager",
    ]
    assert [e.payload["step"] for e in esc] == [1, 2, 3, 4, 5]
    assert "quality_head" in esc[1].payload["notified"] and "gm" in esc[4].payload["notified"]
    # the collaboration request (due 13 Oct) breached too, with its own chain
    assert StageDeadline.objects.get(case=case, stage="collaboration").breached_at is not None

    breach = Accountability.objects.get(case=case, reason="breach:answer")
    assert breach.person == org.handler and breach.supervisor == org.quality_head
    # a normal complaint: a reminder, no fine
    assert (breach.person_amount, breach.supervisor_amount, breach.reminder) == (0, 0, True)
    assert breach.state == "proposed"

    subjects = [m["message"]["Subject"] for m in smtp_sink]
    assert any("gm@example.test" in m["to"] for m in smtp_sink), subjects
    hooks = [h for h in webhook_receiver["received"] if h["headers"]["X-Kesu-Event"] == "sla.escalated"]
    assert hooks
    h = hooks[0]
    assert h["headers"][SIGNATURE_HEADER] == sign("s3cret", h["headers"][TIMESTAMP_HEADER], h["body"])
    assert json.loads(h["body"])["data"]["case"] == case.number
    assert WebhookAttempt.objects.filter(status_code=200).count() == len(webhook_receiver["received"])

    counts = (
        len(smtp_sink),
        len(webhook_receiver["received"]),
        Notification.objects.count(),
        CaseEvent.objects.filter(case=case).count(),
        Accountability.objects.count(),
    )
    r = run_sweep("2026-10-20 10:00", django_capture_on_commit_callbacks)
    assert r.examined == 0 and r.escalations == 0
    assert counts == (
        len(smtp_sink),
        len(webhook_receiver["received"]),
        Notification.objects.count(),
        CaseEvent.objects.filter(case=case).count(),
        Accountability.objects.count(),
    )


def test_failed_webhook_is_retried_with_backoff_and_every_attempt_logged(
    org, webhook_receiver, immediate_tasks, django_capture_on_commit_callbacks
):
    from kesu.sla.models import WebhookDelivery
    from kesu.sla.notify import publish, retry_due_deliveries

    WebhookSubscription.objects.create(name="OA", url=webhook_receiver["url"], secret="k")
    webhook_receiver["status"]["code"] = 500
    with django_capture_on_commit_callbacks(execute=True):
        publish("sla.test", {"x": 1}, key="t1", now=at("2026-11-23 09:00"))
    d = WebhookDelivery.objects.get()
    assert d.state == "pending" and d.attempts == 1 and d.next_attempt_at is not None
    webhook_receiver["status"]["code"] = 200
    assert retry_due_deliveries(d.next_attempt_at) == 1
    d.refresh_from_db()
    assert d.state == "delivered"
    assert list(d.attempt_log.values_list("status_code", flat=True)) == [500, 200]
