"""Background tasks (Django tasks API). Schedule them daily (train, warn, groups, forecast) and
hourly (crisis channels) from the project's scheduler or cron: `kesu insight train` etc. do the same."""

from __future__ import annotations

from django_tasks import task


@task()
def train_triage_model() -> str:
    from kesu.insight.services import train

    return train().status


@task()
def daily_surge_checks() -> int:
    from kesu.insight.services import run_surge_checks

    return len(run_surge_checks())


@task()
def hourly_crisis_checks() -> int:
    from kesu.insight.services import run_hourly_checks

    return len(run_hourly_checks())


@task()
def detect_group_complaints() -> int:
    from kesu.insight.services import run_group_detection

    return len(run_group_detection())


@task()
def volume_forecast() -> int | None:
    from kesu.insight.services import make_forecast

    run = make_forecast()
    return run.pk if run else None


@task()
def weekly_emerging_topics() -> int:
    from kesu.insight.services import run_topic_detection

    return len(run_topic_detection().topics)


# --- the scheduler's periodic jobs (settings.KESU_PERIODIC_JOBS) --------------------------------------


def enqueue_hourly_crisis_checks():
    return hourly_crisis_checks.enqueue()


def enqueue_daily():
    return [daily_surge_checks.enqueue(), detect_group_complaints.enqueue(), volume_forecast.enqueue()]


def enqueue_training():
    return train_triage_model.enqueue()


def enqueue_weekly_topics(now=None):
    """Runs daily in the scheduler; enqueues the topic job on Mondays (Asia/Shanghai), for the week just ended."""
    import datetime as dt
    from zoneinfo import ZoneInfo

    now = now or dt.datetime.now(dt.UTC)
    if now.astimezone(ZoneInfo("Asia/Shanghai")).weekday() != 0:
        return None
    return weekly_emerging_topics.enqueue()
