"""Loading the demo volume: register the planned complaints in batches and play each one's scenario.

`make demo` serves early: `load_demo_cases(count, first=N)` registers a sample of N complaints spread
over the whole year (so every queue, chart and report has data at once) and `enqueue_rest` leaves the
others to the task worker (`kesu.cases.demo.tasks.load_demo_chunk`), which registers and walks them
through the same services, chunk by chunk, while the server already answers. Every plan is fixed by
(count, seed, now), so the worker rebuilds exactly the plans the command made.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from kesu.cases.demo.company import DemoOrg, ensure_org
from kesu.cases.demo.plans import CLIENT_KEY_PREFIX, Plan, plan_cases
from kesu.cases.demo.scenario import ScenarioWalker, Stop, play
from kesu.cases.models import Case, CaseEvent
from kesu.cases.services import register_case
from kesu.errors import DomainError
from kesu.policy.models import Channel

# Tasks whose history is made up by the load and must not go out: the e-mails and webhooks of events
# months ago. Other tasks enqueued meanwhile (a sweep, a report, the next demo chunk) are kept.
HISTORICAL_TASKS = ("kesu.sla.tasks.send_notification_email", "kesu.sla.tasks.deliver_webhook")
# Complaints per transaction in the foreground; in the background each case commits alone, so that the
# server's own writes (a login, a session) never wait for a whole batch on SQLite's single writer.
FOREGROUND_BATCH = 50


@dataclass
class LoadReport:
    created: int = 0
    existing: int = 0
    failed: int = 0
    statuses: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)
    deferred: int = 0  # planned complaints left to the task worker (`first=`)


def demo_plans(count: int, *, seed: int, now: dt.datetime) -> list[Plan]:
    """The `count` planned complaints of a seed at `now` (the same plans every time)."""
    channels = set(Channel.objects.filter(is_active=True).values_list("code", flat=True))
    return plan_cases(count, seed=seed, now=now, channels=channels)


def split_first(plans: Sequence[Plan], first: int) -> tuple[list[Plan], list[Plan]]:
    """`first` plans evenly spread over the year (no repeat complaint: its earlier complaint may not
    be among them), and the others, both in arrival order."""
    if first >= len(plans):
        return list(plans), []
    candidates = [p for p in plans if not p.repeat]
    step = len(candidates) / first if first > 0 else 0
    head = [candidates[int(i * step)] for i in range(min(first, len(candidates)))]
    chosen = {p.index for p in head}
    return head, [p for p in plans if p.index not in chosen]


def load_demo_cases(
    count: int,
    *,
    seed: int = 2025,
    now: dt.datetime | None = None,
    progress: Callable[[int, int], None] | None = None,
    first: int | None = None,
) -> LoadReport:
    """Register `count` complaints over the last year and walk each through its lifecycle; with
    `first`, only a sample of that many now (the report counts the others as `deferred`: pass them to
    `enqueue_rest`)."""
    now = now or timezone.now()
    org = ensure_org()
    plans = demo_plans(count, seed=seed, now=now)
    report = LoadReport()
    if first is not None:
        plans, rest = split_first(plans, first)
        report.deferred = len(rest)
    load_plans(plans, org=org, seed=seed, now=now, report=report, progress=progress)
    report.statuses = Counter(
        Case.objects.filter(client_key__startswith=CLIENT_KEY_PREFIX).values_list("status", flat=True)
    )
    return report


def load_plans(
    plans: Sequence[Plan],
    *,
    org: DemoOrg,
    seed: int,
    now: dt.datetime,
    report: LoadReport,
    progress: Callable[[int, int], None] | None = None,
    batch: int = FOREGROUND_BATCH,
) -> list[int]:
    """Register and play `plans` (in arrival order), `batch` complaints per transaction; the ids of
    the cases created."""
    load_started = timezone.now()
    existing = _existing_keys(plans, org)
    created: list[int] = []
    for start in range(0, len(plans), batch):
        with transaction.atomic():
            for plan in plans[start : start + batch]:
                # A second run: the case of this plan exists (its body differs — the dates are relative
                # to now —, so register_case would refuse the key as reused rather than replay it).
                if (plan.data["client_key"], org.users[plan.intake].pk) in existing:
                    report.existing += 1
                    continue
                pk = _load_one(plan, org=org, seed=seed, now=now, report=report)
                if pk is not None:
                    created.append(pk)
        if progress:
            progress(min(start + batch, len(plans)), len(plans))
    # `registered_at` is set by the database to the real time; the demo registered in the past.
    first_event = CaseEvent.objects.filter(case=OuterRef("pk"), seq=1).values("created_at")[:1]
    for start in range(0, len(created), 500):
        Case.objects.filter(pk__in=created[start : start + 500]).update(registered_at=Subquery(first_event))
    _drop_historical_notifications(load_started)
    return created


def _existing_keys(plans: Iterable[Plan], org: DemoOrg) -> set[tuple[str, int]]:
    """(client key, creator) of the planned complaints already registered: one query, not one per plan."""
    keys = [p.data["client_key"] for p in plans]
    found: set[tuple[str, int]] = set()
    for start in range(0, len(keys), 500):
        found.update(
            Case.objects.filter(client_key__in=keys[start : start + 500]).values_list(
                "client_key", "created_by_id"
            )
        )
    return found


def _load_one(plan: Plan, *, org: DemoOrg, seed: int, now: dt.datetime, report: LoadReport) -> int | None:
    rng = random.Random(f"{seed}:{plan.index}")
    intake = org.users[plan.intake]
    registered = min(plan.received_at + dt.timedelta(minutes=rng.uniform(2, 180)), now)
    try:
        reg = register_case(actor=intake, data=plan.data, now=registered)
    except DomainError as exc:
        report.failed += 1
        report.errors[f"register: {exc.code}: {exc.message[:60]}"] += 1
        return None
    if not reg.created:
        report.existing += 1
        return None
    report.created += 1
    walker = ScenarioWalker(reg.case, plan, org, rng, now)
    try:
        play(walker)
    except Stop:
        pass
    except DomainError as exc:
        report.errors[f"{exc.code}: {exc.message[:80]}"] += 1
    return reg.case.pk


def _drop_historical_notifications(since: dt.datetime) -> None:
    """The history was made up just now: its notifications (e-mails about events months ago) are not
    sent. Their background tasks enqueued during the load and not yet run are dropped."""
    try:
        from django_tasks_db.models import DBTaskResult
    except ImportError:  # another tasks backend
        return
    DBTaskResult.objects.filter(
        status="READY", enqueued_at__gte=since, task_path__in=HISTORICAL_TASKS
    ).delete()


def demo_case_count() -> int:
    return Case.objects.filter(client_key__startswith=CLIENT_KEY_PREFIX).count()
