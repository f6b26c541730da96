"""/healthz answers JSON without a login; the admin shows the workers' beats and the queues."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.utils import timezone

from kesu.sla.workers import beat
from tests.hosts.tasks import block_until_released

pytestmark = pytest.mark.django_db


def test_healthz_reports_the_database_workers_and_queues(client, settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    beat("w-alive")
    beat("w-dead", now=timezone.now() - dt.timedelta(hours=1))
    block_until_released.enqueue("/nonexistent", "x")
    r = client.get("/healthz")
    assert r.status_code == 200 and r["Content-Type"] == "application/json"
    body = r.json()
    assert body["status"] == "ok" and body["database"] == "ok"
    assert body["workers"] == {"alive": 1, "silent": ["w-dead"]}
    [queue] = body["queues"]
    assert queue["queue"] == "default" and queue["ready"] == 1 and queue["oldest_ready_age_seconds"] >= 0
    for _ in range(30):  # a probe every few seconds is no abuse: never rate-limited
        assert client.get("/healthz").status_code == 200


def test_healthz_answers_503_when_the_database_is_unavailable(client, monkeypatch):
    def broken(*a, **kw):
        raise RuntimeError("connection refused")

    monkeypatch.setattr(connection, "cursor", broken)
    r = client.get("/healthz")
    assert r.status_code == 503 and r.json() == {"status": "error", "database": "unavailable"}


def test_the_admin_lists_workers_and_the_oldest_waiting_task(admin_client, settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    beat("host-a-123-abc")
    block_until_released.enqueue("/nonexistent", "x")
    r = admin_client.get("/admin/sla/workerbeat/")
    page = r.content.decode()
    assert r.status_code == 200
    assert "host-a-123-abc" in page and "最早待执行任务" in page and "default" in page
