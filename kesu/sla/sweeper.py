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
from kesu.cases.services import perform, perform_many
from kesu.errors import DomainError
from kesu.org.selectors import department_heads, users_with_role
from kesu.policy.selectors import rules_for
from kesu.sla.models import StageDeadline
from kesu.sla.notify import notify, retry_due_deliveries
from kesu.sla.services import escalation_settings, escalation_time, next_check, propose_accountability
from kesu.sla.stages import STAGES

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
        _sweep_chunk([pk for _at, pk in rows], now, report)
        after = rows[-1]
    report.webhook_retries = retry_due_deliveries(now)
    return report


def _sweep_chunk(pks: list[int], now: dt.datetime, report: SweepReport) -> None:
    """One chunk as a set (one transaction, the escalations through one `perform_many`); if anything
    in it fails, the chunk again row by row, so that one bad row stops only itself."""
    part = SweepReport()
    try:
        expiring = _process_set(pks, now, part)
    except Exception:
        log.warning("sweep: chunk of %s rows failed as a set; row by row", len(pks), exc_info=True)
        expiring = pks
    else:
        _merge(report, part)
    # Expirations (and a failed chunk) row by row: an expiry is a status change whose subscribers
    # rewrite the case's stage rows, which a set would hold stale in memory.
    for pk in expiring:
        try:
            _process(pk, now, report)
        except Exception as exc:  # one bad row must not stop the sweep
            log.exception("sweep failed on stage deadline %s", pk)
            report.errors.append(f"{pk}: {exc}")


def _merge(report: SweepReport, part: SweepReport) -> None:
    for name in ("examined", "warnings", "breaches", "escalations", "accountabilities", "expirations"):
        setattr(report, name, getattr(report, name) + getattr(part, name))
    report.errors += part.errors


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


@dataclass
class _Escalation:
    """One escalation step decided for a stage row, written by `_escalate` with the others of its set."""

    stage: StageDeadline
    step: int
    role: str
    people: list
    data: dict


def _locked(pks: list[int]) -> list[StageDeadline]:
    return list(
        StageDeadline.objects.select_for_update(of=("self",))
        .select_related("case", "case__channel", "case__handler", "case__first_responder", "case__department")
        .filter(pk__in=pks)
        .order_by("pk")
    )


_SAVED = ["warned_at", "breached_at", "escalation_step", "next_check_at", "updated_at"]


def _process(pk: int, now: dt.datetime, report: SweepReport) -> None:
    """One row in its own transaction (expirations, and the rows of a chunk that failed as a set)."""
    with transaction.atomic():
        for s in _locked([pk]):
            if not _due(s, now):
                return
            spec = STAGES.get(s.stage)
            if spec is not None and spec.expires_with and now >= s.due_at:
                report.examined += 1
                _expire(s, spec.expires_with, now, report)
                return
            escalations = _examine(s, now, report)
            _escalate(escalations, now, report)
            s.save(update_fields=_SAVED)


def _process_set(pks: list[int], now: dt.datetime, report: SweepReport) -> list[int]:
    """The rows of one chunk in one transaction; returns those left to `_process` (expirations)."""
    expiring: list[int] = []
    with transaction.atomic():
        rows, escalations = [], []
        for s in _locked(pks):
            if not _due(s, now):
                continue
            spec = STAGES.get(s.stage)
            if spec is not None and spec.expires_with and now >= s.due_at:
                expiring.append(s.pk)
                continue
            escalations += _examine(s, now, report)
            rows.append(s)
        _escalate(escalations, now, report)
        stamp = timezone.now()
        for s in rows:
            s.updated_at = stamp
        StageDeadline.objects.bulk_update(rows, _SAVED[:-1] + ["updated_at"], batch_size=500)
    return expiring


def _due(s: StageDeadline, now: dt.datetime) -> bool:
    """Re-checked under the row lock: another sweep or an event may have handled it meanwhile."""
    if s.state != StageDeadline.State.OPEN or s.paused_at is not None:
        return False
    return s.next_check_at is not None and s.next_check_at <= now


def _examine(s: StageDeadline, now: dt.datetime, report: SweepReport) -> list[_Escalation]:
    """Warning, breach and accountability of one locked row, and the escalation steps now due (not yet
    written: `_escalate` writes them with the others of the set). Moves `next_check_at` on."""
    report.examined += 1
    case = s.case
    rules = rules_for(case.policy_id)
    cal = calendar_for_case(case, rules)
    due_text = format_instant(s.due_at)
    data = {"case": case.number, "stage": s.stage, "ref": s.ref, "due_at": due_text}

    if s.breached_at is None and s.warned_at is None and s.warn_at <= now <= s.due_at:
        s.warned_at = now
        report.warnings += 1
        notify(
            _recipients("handler", case),
            kind="sla.warning",
            message="sla.warning",
            params={"n": case.number, "stage": s.stage, "due_at": due_text},
            case=case,
            key=f"sla:{s.pk}:warn",
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

    out: list[_Escalation] = []
    if s.breached_at is not None:
        chain, grace, _ = escalation_settings(rules)
        while s.escalation_step < len(chain) and now >= escalation_time(s, grace[s.escalation_step], cal):
            step = s.escalation_step
            role = chain[step]
            out.append(_Escalation(s, step + 1, role, _recipients(role, case), data))
            s.escalation_step = step + 1

    s.next_check_at = next_check(s, rules, cal)
    return out


def _escalate(escalations: list[_Escalation], now: dt.datetime, report: SweepReport) -> None:
    """Every escalation of the set as an event on its case's timeline (one `perform_many`: the cases
    locked together, the events chained and bulk-written), then each recipient told."""
    if not escalations:
        return
    items = []
    for e in escalations:
        notified = [u.get_username() for u in e.people]
        items.append(
            (
                e.stage.case_id,
                {
                    "stage": e.stage.stage,
                    "ref": e.stage.ref,
                    "step": e.step,
                    "role": e.role,
                    "notified": notified,
                    "due_at": e.data["due_at"],
                },
            )
        )
    result = perform_many("escalate", items, None, now=now)
    for index, e in enumerate(escalations):
        if index in result.refused:
            raise result.refused[index]  # escalate starts from any status: a refusal is a real fault
        case = e.stage.case
        notify(
            e.people,
            kind="sla.escalation",
            message="sla.escalation",
            params={"n": case.number, "stage": e.stage.stage, "step": e.step, "due_at": e.data["due_at"]},
            case=case,
            key=f"sla:{e.stage.pk}:esc{e.step}",
            event="sla.escalated",
            data={**e.data, "step": e.step, "role": e.role, "notified": items[index][1]["notified"]},
            now=now,
        )
        report.escalations += 1
