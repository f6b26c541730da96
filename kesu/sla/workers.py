"""Task workers that survive each other: heartbeats and leases over django-tasks-db.

django-tasks-db claims a task by setting it RUNNING with the worker's id, and nothing ever looks at it
again: a worker killed mid-task (SIGKILL, OOM, a lost host) leaves the task RUNNING for ever. `kesu
worker` (kesu/sla/management/commands/worker.py) is django-tasks-db's worker plus

* a heartbeat: a thread writes the worker's `WorkerBeat` row every `KESU_WORKER_BEAT_SECONDS`, also
  while a long task runs, and says which task it runs;
* a lease: on every beat, each worker puts back to READY the RUNNING tasks whose worker has not beaten
  for `KESU_WORKER_LEASE_SECONDS` (or has stopped), so that a live worker takes them. A task lost this
  way `KESU_TASK_MAX_ATTEMPTS` times is marked FAILED instead (a task that kills its worker must not
  kill them all in turn).

A requeued task runs again from the start, so every task must be safe to run twice (docs/deploy.md,
"Several hosts"): each checks what is already done (reports keyed by period, e-mails marked sent,
sweeps idempotent by construction).

Tasks claimed by a plain `db_worker`, which does not beat, are requeued only after
`KESU_UNTRACKED_TASK_TIMEOUT_SECONDS` (default 6 h), so that such a worker's long tasks are not run twice.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading

from django.conf import settings
from django.db import close_old_connections, connections, transaction
from django.utils import timezone
from django.utils.crypto import get_random_string
from django_tasks_db.compat import TaskResultStatus
from django_tasks_db.management.commands.db_worker import Worker
from django_tasks_db.models import DBTaskResult

from kesu.sla.models import WorkerBeat

log = logging.getLogger("kesu.sla.workers")
LOST_EXCEPTION = "kesu.sla.workers.WorkerLost"


class WorkerLost(Exception):
    """The worker running a task stopped beating; recorded on a task given up after too many losses."""


def beat_seconds() -> float:
    return float(getattr(settings, "KESU_WORKER_BEAT_SECONDS", 10))


def lease_seconds() -> float:
    return float(getattr(settings, "KESU_WORKER_LEASE_SECONDS", 60))


def max_attempts() -> int:
    return int(getattr(settings, "KESU_TASK_MAX_ATTEMPTS", 3))


def untracked_timeout_seconds() -> float:
    return float(getattr(settings, "KESU_UNTRACKED_TASK_TIMEOUT_SECONDS", 6 * 3600))


def new_worker_id() -> str:
    """Host and process in the id, so that an operator can tell where a worker ran (≤ 64 characters)."""
    return f"{socket.gethostname()[:40]}-{os.getpid()}-{get_random_string(8)}"[:64]


def beat(worker_id: str, *, queues: str = "", current_task: str = "", now: dt.datetime | None = None) -> None:
    now = now or timezone.now()
    updated = WorkerBeat.objects.filter(worker_id=worker_id).update(
        last_beat_at=now, current_task=current_task[:300], stopped_at=None
    )
    if not updated:
        WorkerBeat.objects.update_or_create(
            worker_id=worker_id,
            defaults={
                "hostname": socket.gethostname()[:200],
                "pid": os.getpid(),
                "queues": queues[:200],
                "started_at": now,
                "last_beat_at": now,
                "current_task": current_task[:300],
            },
        )


def stopped(worker_id: str, now: dt.datetime | None = None) -> None:
    WorkerBeat.objects.filter(worker_id=worker_id).update(stopped_at=now or timezone.now(), current_task="")


def live_worker_ids(now: dt.datetime | None = None) -> set[str]:
    now = now or timezone.now()
    horizon = now - dt.timedelta(seconds=lease_seconds())
    return set(
        WorkerBeat.objects.filter(last_beat_at__gte=horizon, stopped_at__isnull=True).values_list(
            "worker_id", flat=True
        )
    )


def requeue_stale_tasks(now: dt.datetime | None = None) -> dict[str, list[str]]:
    """Put the RUNNING tasks of dead workers back to READY (or FAILED after too many losses)."""
    now = now or timezone.now()
    live = live_worker_ids(now)
    known = set(WorkerBeat.objects.values_list("worker_id", flat=True))
    untracked_horizon = now - dt.timedelta(seconds=untracked_timeout_seconds())
    lease_horizon = now - dt.timedelta(seconds=lease_seconds())
    out: dict[str, list[str]] = {"requeued": [], "failed": []}
    with transaction.atomic():
        # Rows being finished by their (live) worker right now are skipped, not waited for.
        running = DBTaskResult.objects.running().select_for_update(skip_locked=True).order_by()
        for task in running:
            holder = task.worker_ids[-1] if task.worker_ids else ""
            if holder in live:
                continue
            started = task.started_at or task.enqueued_at
            if holder in known:
                if started > lease_horizon:  # claimed just now by a worker that beat before
                    continue
            elif started > untracked_horizon:  # a plain db_worker: no beats to judge it by
                continue
            if len(task.worker_ids) >= max_attempts():
                task.status = TaskResultStatus.FAILED
                task.finished_at = now
                task.exception_class_path = LOST_EXCEPTION
                task.traceback = (
                    f"{LOST_EXCEPTION}: the worker stopped beating {len(task.worker_ids)} times while "
                    f"running this task ({', '.join(task.worker_ids)})"
                )
                task.save(update_fields=["status", "finished_at", "exception_class_path", "traceback"])
                out["failed"].append(str(task.pk))
                log.error(
                    "task %s (%s) given up: its workers died %s times",
                    task.pk,
                    task.task_path,
                    len(task.worker_ids),
                )
            else:
                task.status = TaskResultStatus.READY
                task.started_at = None
                task.save(update_fields=["status", "started_at"])
                out["requeued"].append(str(task.pk))
                log.warning(
                    "task %s (%s) requeued: worker %s stopped beating", task.pk, task.task_path, holder
                )
    return out


class LeasedWorker(Worker):
    """django-tasks-db's worker with a heartbeat thread that also requeues the tasks of dead workers."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.current_task = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _beat_once(self) -> None:
        beat(self.worker_id, queues=",".join(self.queue_names), current_task=self.current_task)

    def _beat_loop(self) -> None:
        while not self._stop.wait(beat_seconds()):
            try:
                close_old_connections()
                self._beat_once()
                requeue_stale_tasks()
            except Exception:  # the database may be away for a moment; the next beat tries again
                log.exception("worker %s: heartbeat failed", self.worker_id)
        connections.close_all()  # this thread's own connection

    def run(self) -> None:
        # The first beat before the first claim: a task is never held by a worker without a beat.
        self._beat_once()
        requeue_stale_tasks()
        self._thread = threading.Thread(target=self._beat_loop, name="kesu-heartbeat", daemon=True)
        self._thread.start()
        try:
            super().run()
        finally:
            self._stop.set()
            self._thread.join(timeout=beat_seconds() + 5)
            try:
                stopped(self.worker_id)
            except Exception:
                log.exception("worker %s: could not record the stop", self.worker_id)

    def run_task(self, db_task_result: DBTaskResult) -> None:
        self.current_task = f"{db_task_result.task_path} {db_task_result.pk}"
        try:
            self._beat_once()
        except Exception:
            log.exception("worker %s: heartbeat failed", self.worker_id)
        try:
            super().run_task(db_task_result)
        finally:
            self.current_task = ""


def queue_overview(now: dt.datetime | None = None) -> list[dict]:
    """Per queue: tasks READY (and due), the oldest one's age, tasks RUNNING. For the admin and /healthz."""
    now = now or timezone.now()
    rows: dict[str, dict] = {}
    for task in DBTaskResult.objects.ready().order_by().values("queue_name", "enqueued_at", "run_after"):
        row = rows.setdefault(
            task["queue_name"],
            {"queue": task["queue_name"], "ready": 0, "running": 0, "oldest_ready_at": None},
        )
        row["ready"] += 1
        # A deferred task is waiting from its run_after, not from its enqueueing.
        since = (
            task["enqueued_at"]
            if task["run_after"].year == 9999
            else max(task["enqueued_at"], task["run_after"])
        )
        if row["oldest_ready_at"] is None or since < row["oldest_ready_at"]:
            row["oldest_ready_at"] = since
    for queue in DBTaskResult.objects.running().order_by().values_list("queue_name", flat=True):
        rows.setdefault(queue, {"queue": queue, "ready": 0, "running": 0, "oldest_ready_at": None})[
            "running"
        ] += 1
    for row in rows.values():
        oldest = row["oldest_ready_at"]
        row["oldest_ready_age_seconds"] = round((now - oldest).total_seconds(), 1) if oldest else None
    return sorted(rows.values(), key=lambda r: r["queue"])


def worker_overview(now: dt.datetime | None = None) -> list[dict]:
    """Every worker that beat within the last day: id, host, last beat, whether it is alive."""
    now = now or timezone.now()
    live = live_worker_ids(now)
    rows = WorkerBeat.objects.filter(last_beat_at__gte=now - dt.timedelta(days=1)).order_by("-last_beat_at")
    return [
        {
            "worker_id": w.worker_id,
            "hostname": w.hostname,
            "last_beat_at": w.last_beat_at,
            "seconds_since_beat": round((now - w.last_beat_at).total_seconds(), 1),
            "alive": w.worker_id in live,
            "current_task": w.current_task,
        }
        for w in rows
    ]
