"""Loading the demo volume: register the planned complaints in batches and play each one's scenario."""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from kesu.cases.demo.company import ensure_org
from kesu.cases.demo.plans import CLIENT_KEY_PREFIX, plan_cases
from kesu.cases.demo.scenario import ScenarioWalker, Stop, play
from kesu.cases.models import Case, CaseEvent
from kesu.cases.services import register_case
from kesu.errors import DomainError
from kesu.policy.models import Channel


@dataclass
class LoadReport:
    created: int = 0
    existing: int = 0
    failed: int = 0
    statuses: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)


def load_demo_cases(
    count: int,
    *,
    seed: int = 2025,
    now: dt.datetime | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> LoadReport:
    """Register `count` complaints over the last year and walk each through its lifecycle."""
    now = now or timezone.now()
    load_started = timezone.now()
    org = ensure_org()
    channels = set(Channel.objects.filter(is_active=True).values_list("code", flat=True))
    plans = plan_cases(count, seed=seed, now=now, channels=channels)
    report = LoadReport()
    batch = 50
    for start in range(0, len(plans), batch):
        with transaction.atomic():
            for plan in plans[start : start + batch]:
                rng = random.Random(f"{seed}:{plan.index}")
                intake = org.users[plan.intake]
                registered = plan.received_at + dt.timedelta(minutes=rng.uniform(2, 180))
                registered = min(registered, now)
                # A second run: the case of this plan exists (its body differs — the dates are relative to
                # now —, so register_case would refuse the key as reused rather than replay it).
                if Case.objects.filter(client_key=plan.data["client_key"], created_by=intake).exists():
                    report.existing += 1
                    continue
                try:
                    reg = register_case(actor=intake, data=plan.data, now=registered)
                except DomainError as exc:
                    report.failed += 1
                    report.errors[f"register: {exc.code}: {exc.message[:60]}"] += 1
                    continue
                if not reg.created:
                    report.existing += 1
                    continue
                report.created += 1
                case = reg.case
                walker = ScenarioWalker(case, plan, org, rng, now)
                try:
                    play(walker)
                except Stop:
                    pass
                except DomainError as exc:
                    report.errors[f"{exc.code}: {exc.message[:80]}"] += 1
            if progress:
                progress(min(start + batch, len(plans)), len(plans))
    # `registered_at` is set by the database to the real time; the demo registered in the past.
    first_event = CaseEvent.objects.filter(case=OuterRef("pk"), seq=1).values("created_at")[:1]
    Case.objects.filter(client_key__startswith=f"{CLIENT_KEY_PREFIX}{seed}:").update(
        registered_at=Subquery(first_event)
    )
    _drop_historical_notifications(load_started)
    report.statuses = Counter(
        Case.objects.filter(client_key__startswith=CLIENT_KEY_PREFIX).values_list("status", flat=True)
    )
    return report


def _drop_historical_notifications(since: dt.datetime) -> None:
    """The history was made up just now: its notifications (e-mails about events months ago) are not
    sent. Background tasks enqueued during the load and not yet run are dropped."""
    try:
        from django_tasks_db.models import DBTaskResult
    except ImportError:  # another tasks backend
        return
    DBTaskResult.objects.filter(status="READY", enqueued_at__gte=since).delete()


def demo_case_count() -> int:
    return Case.objects.filter(client_key__startswith=CLIENT_KEY_PREFIX).count()
