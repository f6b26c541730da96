"""The deadline sweeper: warnings, breaches, the escalation chain and breach accountability.

It reads only stage rows whose `next_check_at` has come (one indexed range scan), in chunks
(keyset on `next_check_at`, pk), and handles each row in its own transaction under a row lock, re-checking the row;
every action moves `next_check_at` on, so running the sweep twice changes nothing more.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import asdict, dataclass, field

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from kesu.calendar.workcalendar import calendar_for_case, format_instant
from kesu.cases.services import perform
from kesu.errors import DomainError
from kesu.org.selectors import department_heads, users_with_role
from kesu.policy.selectors import rules_for
from kesu.sla.models import StageDeadline
from kesu.sla.notify import notify, retry_due_deliveries
from kesu.sla.services import escalation_settings, escalation_time, next_check, propose_accountability
from kesu.sla.stages import STAGES, stage_label

log = logging.getLogger("kesu.sla.sweeper")


@dataclass
class SweepReport:
    examined: int = 0
    warnings: int = 0
    breaches: int = 0
    escalations: int = 0
    accountabilities: int = 0
    expirations: int = 0  # limits reached (expired suspensions closed)
    webhook_retries: int = 0
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def sweep(now: dt.datetime | None = None, *, chunk: int = 500) -> SweepReport:
    now = now or timezone.now()
    report = SweepReport()
    # Keyset pagination in the order of the `next_check_at` index, so that every chunk is a range
    # scan of that index (ordering by pk alone let SQLite walk the whole table by rowid: 0.7 s for
    # an empty sweep at 1M rows). Handled rows move on past `now` and drop out of the range; the
    # keyset keeps a row that could not be handled from being picked up again in this sweep.
    due = StageDeadline.objects.filter(next_check_at__lte=now)
    after: tuple[dt.datetime, int] | None = None
    while True:
        qs = due
        if after is not None:
            qs = qs.filter(Q(next_check_at__gt=after[0]) | Q(next_check_at=after[0], pk__gt=after[1]))
        rows = list(qs.order_by("next_check_at", "pk").values_list("next_check_at", "pk")[:chunk])
        if not rows:
            break
        for _at, pk in rows:
            try:
                _process(pk, now, report)
            except Exception as exc:  # one bad row must not stop the sweep
                log.exception("sweep failed on stage deadline %s", pk)
                report.errors.append(f"{pk}: {exc}")
        after = rows[-1]
    report.webhook_retries = retry_due_deliveries(now)
    return report


def _expire(s: StageDeadline, action: str, now: dt.datetime, report: SweepReport) -> None:
    """A limit reached (an expired 暂结案): the case is closed by the system, with its own closing
    reason; no breach, no accountability, no escalation. The event ends the stage."""
    try:
        with transaction.atomic():
            perform(s.case_id, action, None, now=now, stage=s.stage, due_at=format_instant(s.due_at))
    except DomainError as exc:
        # The case's own rule says not yet (e.g. a later contact moved the limit): look again later.
        log.info("stage %s: %s not performed: %s", s.pk, action, exc)
        s.next_check_at = now + dt.timedelta(hours=1)
        s.save(update_fields=["next_check_at", "updated_at"])
        return
    report.expirations += 1


def _recipients(role: str, case) -> list:
    from kesu.sla.services import responsible_person

    if role == "handler":
        person = responsible_person(case)
        return [person] if person else []
    if role == "dept_head":
        return list(department_heads(case.department)) if case.department_id else []
    return list(users_with_role(role))


def _process(pk: int, now: dt.datetime, report: SweepReport) -> None:

    with transaction.atomic():
        s = (
            StageDeadline.objects.select_for_update(of=("self",))
            .select_related(
                "case", "case__channel", "case__handler", "case__first_responder", "case__department"
            )
            .filter(pk=pk)
            .first()
        )
        if s is None or s.state != StageDeadline.State.OPEN or s.paused_at is not None:
            return
        if s.next_check_at is None or s.next_check_at > now:
            return
        report.examined += 1
        case = s.case
        rules = rules_for(case.policy_id)
        cal = calendar_for_case(case, rules)
        label = stage_label(s.stage)
        due_text = format_instant(s.due_at)
        base = f"sla:{s.pk}"
        data = {"case": case.number, "stage": s.stage, "ref": s.ref, "due_at": due_text}
        spec = STAGES.get(s.stage)
        if spec is not None and spec.expires_with and now >= s.due_at:
            _expire(s, spec.expires_with, now, report)
            return

        if s.breached_at is None and s.warned_at is None and s.warn_at <= now <= s.due_at:
            s.warned_at = now
            report.warnings += 1
            notify(
                _recipients("handler", case),
                kind="sla.warning",
                title=f"时限预警：{case.number} {label}",
                body=f"案件 {case.number} 的「{label}」将于 {due_text} 到期，请及时处理。",
                case=case,
                key=f"{base}:warn",
                event="sla.warning",
                data=data,
                now=now,
            )

        if s.breached_at is None and now > s.due_at:
            s.breached_at = now
            report.breaches += 1
            record = propose_accountability(case, rules, reason=f"breach:{s.stage}"[:40], now=now)
            if record is not None:
                report.accountabilities += 1

        if s.breached_at is not None:
            chain, grace, _ = escalation_settings(rules)
            while s.escalation_step < len(chain) and now >= escalation_time(s, grace[s.escalation_step], cal):
                step = s.escalation_step
                role = chain[step]
                people = _recipients(role, case)
                notified = [u.get_username() for u in people]
                perform(
                    case.pk,
                    "escalate",
                    None,
                    now=now,
                    stage=s.stage,
                    ref=s.ref,
                    step=step + 1,
                    role=role,
                    notified=notified,
                    due_at=due_text,
                )
                notify(
                    people,
                    kind="sla.escalation",
                    title=f"超时升级（第{step + 1}级）：{case.number} {label}",
                    body=f"案件 {case.number} 的「{label}」已于 {due_text} 超时，按升级规则通知您督办。",
                    case=case,
                    key=f"{base}:esc{step + 1}",
                    event="sla.escalated",
                    data={**data, "step": step + 1, "role": role, "notified": notified},
                    now=now,
                )
                s.escalation_step = step + 1
                report.escalations += 1

        s.next_check_at = next_check(s, rules, cal)
        s.save(update_fields=["warned_at", "breached_at", "escalation_step", "next_check_at", "updated_at"])
