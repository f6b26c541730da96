"""The periodic jobs run once per period, however many schedulers share the database."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from kesu.sla.models import ScheduledJob
from kesu.sla.schedule import Job, periodic_jobs, run_due

pytestmark = pytest.mark.django_db
SH = ZoneInfo("Asia/Shanghai")


def test_interval_and_daily_jobs_run_once_per_period():
    calls: list[str] = []
    jobs = (
        Job("every5", lambda: calls.append("every5"), every=dt.timedelta(minutes=5)),
        Job("daily6", lambda: calls.append("daily6"), daily_at=dt.time(6, 0)),
    )
    t0 = dt.datetime(2026, 11, 23, 5, 58, tzinfo=SH)
    assert run_due(t0, jobs) == ["every5"]  # the daily job waits for 06:00
    assert run_due(t0 + dt.timedelta(minutes=1), jobs) == []  # a second scheduler finds nothing due
    assert run_due(t0 + dt.timedelta(minutes=5), jobs) == ["every5", "daily6"]
    assert run_due(t0 + dt.timedelta(minutes=6), jobs) == []
    assert run_due(dt.datetime(2026, 11, 24, 6, 0, tzinfo=SH), jobs) == ["every5", "daily6"]
    assert calls == ["every5", "every5", "daily6", "every5", "daily6"]
    assert ScheduledJob.objects.get(name="daily6").next_run_at == dt.datetime(2026, 11, 25, 6, 0, tzinfo=SH)


def test_a_failing_job_is_recorded_and_does_not_stop_the_others():
    def broken():
        raise RuntimeError("boom")

    calls = []
    jobs = (
        Job("broken", broken, every=dt.timedelta(minutes=1)),
        Job("ok", lambda: calls.append(1), every=dt.timedelta(minutes=1)),
    )
    assert run_due(dt.datetime(2026, 11, 23, 9, 0, tzinfo=SH), jobs) == ["ok"]
    assert ScheduledJob.objects.get(name="broken").last_result.startswith("failed: boom")


def test_the_real_jobs_enqueue_their_tasks(settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    from django_tasks import default_task_backend

    default_task_backend.clear()
    ran = run_due(dt.datetime(2026, 11, 23, 9, 0, tzinfo=SH))
    assert ran == ["sla.sweep", "sla.email_catch_up", "insight.hourly_crisis_checks"]
    names = {r.task.name for r in default_task_backend.results}
    assert names == {"sweep_deadlines", "send_unsent_emails", "hourly_crisis_checks"}
    assert {j.name for j in periodic_jobs()} == set(ScheduledJob.objects.values_list("name", flat=True))


def test_the_claim_and_the_enqueued_task_commit_together(settings):
    """A scheduler that dies (or fails) between claiming a job and enqueueing it must not skip the job
    for a whole period: the claim rolls back with the task row, and the next check runs the job."""
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    from django_tasks_db.models import DBTaskResult

    from kesu.sla.tasks import sweep_deadlines

    def dies_after_enqueueing():
        sweep_deadlines.enqueue()
        raise SystemExit("killed")  # the process ends here: nothing of this attempt may stay

    t0 = dt.datetime(2026, 11, 23, 6, 0, tzinfo=SH)
    first = (Job("daily", dies_after_enqueueing, daily_at=dt.time(6, 0)),)
    ScheduledJob.objects.create(name="daily", next_run_at=t0)
    with pytest.raises(SystemExit):
        run_due(t0, first)
    assert not DBTaskResult.objects.exists()
    assert ScheduledJob.objects.get(name="daily").next_run_at == t0  # still due

    def fails_after_enqueueing():
        sweep_deadlines.enqueue()
        raise RuntimeError("queue full")

    assert run_due(t0, (Job("daily", fails_after_enqueueing, daily_at=dt.time(6, 0)),)) == []
    assert not DBTaskResult.objects.exists()
    assert ScheduledJob.objects.get(name="daily").last_result.startswith("failed: queue full")

    # Another scheduler, five minutes later: the job runs, once, with its task.
    later = t0 + dt.timedelta(minutes=5)
    assert run_due(later, (Job("daily", sweep_deadlines.enqueue, daily_at=dt.time(6, 0)),)) == ["daily"]
    assert DBTaskResult.objects.count() == 1
    assert run_due(later, (Job("daily", sweep_deadlines.enqueue, daily_at=dt.time(6, 0)),)) == []
