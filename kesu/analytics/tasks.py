"""Background work of the analysis app (Django tasks API; the worker is `kesu worker`).

`run_report_schedule` enqueues the reports that are due and not archived yet — every day of the
last week, the last two weeks, the last two months, and, when the policy asks for them, the last two
quarters and the last two years, so that a day the scheduler, the worker or the host missed is made
up the next morning — mails them to the subscribers, escalates overdue
improvement measures, and (when not run by the scheduler) re-enqueues itself for 06:00 next morning.
Every task here is safe to run twice: a scheduled report is archived once per (kind, period, format)
(`GeneratedReport.schedule_key`) and mailed once.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.utils import timezone
from django_tasks import task

from kesu.analytics.models import GeneratedReport, ReportKind, ReportSubscription
from kesu.analytics.periods import SHANGHAI, Period
from kesu.cases.models import Case
from kesu.policy.selectors import NoActivePolicy, active_rules

logger = logging.getLogger("kesu.analytics")

RUN_AT = dt.time(6, 0)
CATCH_UP_DAYS = 7
CATCH_UP_WEEKS = 2
CATCH_UP_MONTHS = 2
CATCH_UP_QUARTERS = 2
CATCH_UP_YEARS = 2
# A scheduled report archived this long ago and still not mailed: its run died before mailing.
MAIL_GRACE = dt.timedelta(minutes=10)


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
        key = f"{kind}:{p.start.isoformat()}:{fmt}"
        report = GeneratedReport.objects.filter(schedule_key=key).first()
        created = report is None
        if created:
            # False when another run archived it meanwhile: that run mails it.
            report, created = reports.generate_once(kind, p, fmt, schedule_key=key)
        if created or (not report.emailed_to and report.generated_at < timezone.now() - MAIL_GRACE):
            # Mailed by the run that archived it, or, when that run died before mailing, by a later one.
            try:
                reports.send_to_subscribers(report)
            except Exception:  # a mail failure must not lose the archived report
                logger.exception("mailing report %s failed", report.pk)
        made.append(report.pk)
    return made


def due_reports(today: dt.date) -> list[tuple[str, str]]:
    """(kind, period) of the reports due by `today` that are not archived yet: the last
    `CATCH_UP_DAYS` days, `CATCH_UP_WEEKS` weeks and `CATCH_UP_MONTHS` months, oldest first.

    Periods older than the latest one are made up only when they end after the first complaint was
    received (a new installation does not get a week of empty reports)."""
    first = Case.objects.order_by("received_at").values_list("received_at", flat=True).first()
    first_day = first.astimezone(SHANGHAI).date() if first else today
    candidates = []
    schedule = [
        ("daily", "day", CATCH_UP_DAYS),
        ("weekly", "week", CATCH_UP_WEEKS),
        ("monthly", "month", CATCH_UP_MONTHS),
    ]
    # Quarterly and annual reports only where the policy files them with a regulator (their due dates
    # are the policy's too: kesu.analytics.reports.filing).
    try:
        filed = active_rules().periodic_reports()
    except NoActivePolicy:
        filed = {}
    if "quarterly" in filed:
        schedule.append(("quarterly", "quarter", CATCH_UP_QUARTERS))
    if "annual" in filed:
        schedule.append(("annual", "year", CATCH_UP_YEARS))
    for kind, unit, count in schedule:
        period = Period.of(unit, today).previous()
        for i in range(count):
            if i == 0 or period.end > first_day:
                candidates.append((kind, period))
            period = period.previous()
    archived = set(
        GeneratedReport.objects.filter(period_start__gte=min(p.start for _, p in candidates)).values_list(
            "kind", "period_start"
        )
    )
    out = []
    for kind, period in sorted(candidates, key=lambda c: (c[1].start, c[0])):
        if (kind, period.start) not in archived:
            out.append((kind, period_key(kind, period)))
    return out


def period_key(kind: str, period: Period) -> str:
    """The period as `generate_periodic_report` takes it: a day, a week's Monday, `2026-11`, `2026-Q4`,
    `2026`."""
    if kind == "monthly":
        return period.start.strftime("%Y-%m")
    if kind == "quarterly":
        return f"{period.start.year}-Q{(period.start.month - 1) // 3 + 1}"
    if kind == "annual":
        return str(period.start.year)
    return period.start.isoformat()


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
