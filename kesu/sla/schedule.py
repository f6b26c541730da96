"""Periodic jobs: the deadline sweep, surge checks, forecasts, scheduled reports.

The Django tasks framework runs tasks but has no clock of its own, so `kesu scheduler`
(started by `kesu serve`, or run under a process supervisor beside `kesu worker`) calls
`run_due()` every few seconds. Each job's next run is a database row claimed under a
row lock: several app servers sharing one PostgreSQL can each run a scheduler and every
job still runs once per period. The jobs only enqueue tasks; the worker does the work.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from kesu.sla.models import ScheduledJob

logger = logging.getLogger("kesu.schedule")
SHANGHAI = ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True)
class Job:
    name: str
    enqueue: Callable[[], object]
    every: dt.timedelta | None = None  # run at this interval ...
    daily_at: dt.time | None = None  # ... or once a day at this Asia/Shanghai time

    def next_after(self, moment: dt.datetime) -> dt.datetime:
        if self.every is not None:
            return moment + self.every
        local = moment.astimezone(SHANGHAI)
        candidate = dt.datetime.combine(local.date(), self.daily_at, tzinfo=SHANGHAI)
        if candidate <= local:
            candidate += dt.timedelta(days=1)
        return candidate

    def first_run(self, now: dt.datetime) -> dt.datetime:
        # Interval jobs start at once; daily jobs wait for their hour (no report burst at start-up).
        return now if self.every is not None else self.next_after(now)


def _jobs_from_settings() -> tuple[Job, ...]:
    """The periodic jobs named in `settings.KESU_PERIODIC_JOBS` (each app's enqueue function by dotted
    path, so that this scheduler imports none of the apps above it)."""
    jobs = []
    for spec in settings.KESU_PERIODIC_JOBS:
        every = spec.get("every_minutes")
        daily = spec.get("daily_at")
        jobs.append(
            Job(
                spec["name"],
                import_string(spec["enqueue"]),
                every=dt.timedelta(minutes=every) if every else None,
                daily_at=dt.time.fromisoformat(daily) if daily else None,
            )
        )
    return tuple(jobs)


def periodic_jobs() -> tuple[Job, ...]:
    return _jobs_from_settings()


def run_due(now: dt.datetime | None = None, jobs: tuple[Job, ...] | None = None) -> list[str]:
    """Enqueue every job whose time has come; returns the names of the jobs run.

    The claim (the job's next run moved on) and the enqueueing commit together: the database task
    backend writes the task row in the same transaction, so a scheduler dying in between leaves the
    job due (another scheduler runs it) instead of skipping it for a whole period, and a failed
    enqueue leaves it due for the next check."""
    now = now or timezone.now()
    jobs = periodic_jobs() if jobs is None else jobs
    ran = []
    for job in jobs:
        try:
            with transaction.atomic():
                if not _claim(job, now):
                    continue
                job.enqueue()
                ScheduledJob.objects.filter(name=job.name).update(last_result="enqueued")
            ran.append(job.name)
        except Exception as exc:  # one broken job must not stop the others
            logger.exception("scheduled job %s failed", job.name)
            # The claim was rolled back with it (the row too, on a job's first run): due again now.
            ScheduledJob.objects.get_or_create(name=job.name, defaults={"next_run_at": now})
            ScheduledJob.objects.filter(name=job.name).update(last_result=f"failed: {exc}"[:300])
    return ran


def _claim(job: Job, now: dt.datetime) -> bool:
    with transaction.atomic():
        row = ScheduledJob.objects.select_for_update().filter(name=job.name).first()
        if row is None:
            try:
                with transaction.atomic():
                    row = ScheduledJob.objects.create(name=job.name, next_run_at=job.first_run(now))
            except IntegrityError:  # another scheduler created it at the same moment
                return False
        if row.next_run_at > now:
            return False
        row.last_run_at = now
        row.next_run_at = job.next_after(now)
        row.save(update_fields=["last_run_at", "next_run_at"])
        return True
