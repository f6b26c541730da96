"""A task held by a crashed worker is taken over by another worker and completes exactly once.

The real thing: `kesu worker` processes against a copy of the migrated test database; the first one
is SIGKILLed in the middle of a task that blocks; the second puts the task back in the queue once the
first one's lease ran out, runs it, and it completes once. The lease rules themselves are checked
in-process below.
"""

from __future__ import annotations

import datetime as dt
import signal

import pytest
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from kesu.sla.models import WorkerBeat
from kesu.sla.workers import LOST_EXCEPTION, beat, requeue_stale_tasks
from tests.hosts import procs
from tests.hosts.tasks import block_until_released
from tests.servers import copy_of_test_database

TASK_PATH = "tests.hosts.tasks.block_until_released"


@pytest.mark.slow
def test_a_killed_workers_task_is_run_by_another_worker_exactly_once(transactional_db, tmp_path, settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    traces = tmp_path / "traces"
    traces.mkdir()
    block_until_released.enqueue(str(traces), "job")
    url, drop = copy_of_test_database(tmp_path)
    first = second = None
    try:
        first = procs.start_worker(url, tmp_path, "worker-1")
        procs.wait_for(lambda: procs.lines(traces / "job.started"), 90, "the first worker to start the task")
        assert procs.lines(traces / "job.started") == [str(first.pid)]
        held = procs.task_rows(url, TASK_PATH)[0]
        assert held["status"] == "RUNNING"
        first.send_signal(signal.SIGKILL)
        first.wait()

        (traces / "job.release").touch()
        second = procs.start_worker(url, tmp_path, "worker-2")
        procs.wait_for(
            lambda: procs.task_rows(url, TASK_PATH)[0]["status"] == "SUCCESSFUL",
            90,
            "the second worker to complete the task",
        )
        row = procs.task_rows(url, TASK_PATH)[0]
        # Started by both, completed once, by the second; the first worker's id stays in the history.
        assert procs.lines(traces / "job.started") == [str(first.pid), str(second.pid)]
        assert procs.lines(traces / "job.done") == [str(second.pid)]
        assert len(row["worker_ids"]) == 2 and row["worker_ids"][0] == held["worker_ids"][0]
        assert row["return_value"] == "job"
        beats = dict(procs.query(url, "SELECT worker_id, stopped_at FROM sla_workerbeat"))
        assert set(beats) == set(row["worker_ids"])
        assert procs.stop(second) == 0
        beats = dict(procs.query(url, "SELECT worker_id, stopped_at FROM sla_workerbeat"))
        assert beats[row["worker_ids"][1]] is not None  # a clean stop is recorded
        assert beats[row["worker_ids"][0]] is None  # the killed one never said so: its beat just ends
    finally:
        for p in (first, second):
            if p is not None:
                procs.stop(p)
        drop()


def _running_task(worker_ids: list[str], started_ago: float) -> DBTaskResult:
    result = block_until_released.using(backend="default").enqueue("/nonexistent", "x")
    row = DBTaskResult.objects.get(pk=result.id)
    row.status = "RUNNING"
    row.worker_ids = worker_ids
    row.started_at = timezone.now() - dt.timedelta(seconds=started_ago)
    row.save()
    return row


@pytest.fixture
def db_tasks(settings, db):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    settings.KESU_WORKER_LEASE_SECONDS = 60
    settings.KESU_TASK_MAX_ATTEMPTS = 3


def test_lease_rules(db_tasks, settings):
    now = timezone.now()
    beat("alive", now=now - dt.timedelta(seconds=5))
    beat("dead", now=now - dt.timedelta(seconds=120))
    beat("stopped", now=now - dt.timedelta(seconds=1))
    WorkerBeat.objects.filter(worker_id="stopped").update(stopped_at=now)

    of_alive = _running_task(["alive"], 600)
    of_dead = _running_task(["dead"], 600)
    of_stopped = _running_task(["stopped"], 600)
    just_claimed = _running_task(["dead"], 1)  # (cannot happen with a beating worker; still not taken)
    untracked = _running_task(["plain-db-worker"], 600)
    untracked_old = _running_task(["plain-db-worker"], 7 * 3600)
    lost_thrice = _running_task(["a", "b", "dead"], 600)

    out = requeue_stale_tasks(now)

    status = {r.pk: r.status for r in DBTaskResult.objects.all()}
    assert status[of_alive.pk] == "RUNNING"
    assert status[of_dead.pk] == "READY" and status[of_stopped.pk] == "READY"
    assert status[just_claimed.pk] == "RUNNING"
    assert status[untracked.pk] == "RUNNING" and status[untracked_old.pk] == "READY"
    assert status[lost_thrice.pk] == "FAILED"
    assert DBTaskResult.objects.get(pk=lost_thrice.pk).exception_class_path == LOST_EXCEPTION
    assert sorted(out["requeued"]) == sorted(str(t.pk) for t in (of_dead, of_stopped, untracked_old))
    # The requeued task is claimable again and keeps its history.
    again = DBTaskResult.objects.ready().get(pk=of_dead.pk)
    assert again.worker_ids == ["dead"] and again.started_at is None
