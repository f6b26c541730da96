"""Background work of the analysis app (Django tasks API; the worker is `manage.py db_worker`).

`run_report_schedule` generates the reports that are due (yesterday's daily, last week's
weekly on Mondays, last month's monthly on the 1st), mails them to the subscribers,
escalates overdue improvement measures, and re-enqueues itself for 06:00 next morning.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.utils import timezone
from django_tasks import task

from kesu.analytics.models import GeneratedReport, ReportKind, ReportSubscription
from kesu.analytics.periods import SHANGHAI, Period

logger = logging.getLogger("kesu.analytics")

RUN_AT = dt.time(6, 0)


@task()
def generate_periodic_report(kind: str, period: str, formats: list[str] | None = None) -> list[int]:
    """Generate one period's report in each subscribed format (PDF at least), archive and mail it."""
    from kesu.analytics import reports

    p = (
        Period.parse(period)
        if kind != "weekly" or "-W" in period
        else Period.of("week", dt.date.fromisoformat(period))
    )
    formats = formats or sorted(
        set(ReportSubscription.objects.filter(kind=kind, is_active=True).values_list("format", flat=True))
        | {"pdf"}
    )
    made = []
    for fmt in formats:
        report = reports.generate(kind, p, fmt)
        try:
            reports.send_to_subscribers(report)
        except Exception:  # a mail failure must not lose the archived report
            logger.exception("mailing report %s failed", report.pk)
        made.append(report.pk)
    return made


def due_reports(today: dt.date) -> list[tuple[str, str]]:
    """(kind, period) of the reports due on `today` that are not archived yet."""
    due = [("daily", Period.of("day", today).previous())]
    if today.weekday() == 0:
        due.append(("weekly", Period.of("week", today).previous()))
    if today.day == 1:
        due.append(("monthly", Period.of("month", today).previous()))
    out = []
    for kind, period in due:
        if not GeneratedReport.objects.filter(kind=kind, period_start=period.start).exists():
            key = period.start.isoformat() if kind != "monthly" else period.start.strftime("%Y-%m")
            out.append((kind, key))
    return out


@task()
def run_report_schedule(reschedule: bool = True) -> list[str]:
    from kesu.analytics.services import escalate_overdue_measures

    now = timezone.now().astimezone(SHANGHAI)
    done = []
    for kind, period in due_reports(now.date()):
        if kind in ReportKind.values:
            generate_periodic_report.enqueue(kind, period)
            done.append(f"{kind}:{period}")
    escalate_overdue_measures(today=now.date())
    if reschedule:
        tomorrow = dt.datetime.combine(now.date() + dt.timedelta(days=1), RUN_AT, tzinfo=SHANGHAI)
        try:
            run_report_schedule.using(run_after=tomorrow).enqueue(True)
        except Exception:  # a backend without deferred tasks: cron calls `kesu report schedule` instead
            logger.info("task backend cannot defer; schedule reports with `kesu report schedule` from cron")
    return done


def enqueue_report_schedule():
    """The scheduler's periodic job (settings.KESU_PERIODIC_JOBS). The scheduler owns the clock, so the
    task must not re-enqueue itself for tomorrow."""
    return run_report_schedule.enqueue(False)
