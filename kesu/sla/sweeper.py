"""The deadline sweeper: warnings, breaches, the escalation chain and breach accountability.

It reads only stage rows whose `next_check_at` has come (one indexed range scan), in chunks
(keyset on `next_check_at`, pk), and handles each chunk as a set in one transaction under row locks,
re-checking each row: the warnings, breaches and escalations are decided in Python and written
together (accountability, escalation events through `perform_many`, notifications through
`notify_many`), a fixed number of queries per chunk. Every action moves `next_check_at` on, so running
the sweep twice changes nothing more; a second sweep running at the same time waits for the locks and
then finds the rows handled.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import asdict, dataclass, field

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from kesu.calendar.workcalendar import calendar_for_case, format_instant
from kesu.cases.services import perform, perform_many
from kesu.cases.storable import update_rows
from kesu.errors import DomainError
from kesu.org.selectors import department_heads_of, users_with_role
from kesu.policy.models import Channel
from kesu.policy.selectors import rules_for
from kesu.sla.models import StageDeadline
from kesu.sla.notify import Notice, notify_many, retry_due_deliveries
from kesu.sla.services import (
    escalation_settings,
    escalation_time,
    next_check,
    propose_accountabilities,
    responsible_person,
)
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


class _People:
    """Who an escalation step tells, read once per set: the department heads of the set's departments
    in one query, each company-wide role in one query (not one query per escalation)."""

    def __init__(self, escalations: list[_Escalation]) -> None:
        departments = {
            e.stage.case.department_id
            for e in escalations
            if e.role == "dept_head" and e.stage.case.department_id
        }
        self.heads = department_heads_of(departments) if departments else {}
        self.by_role: dict[str, list] = {}

    def __call__(self, role: str, case) -> list:
        if role == "handler":
            person = responsible_person(case)
            return [person] if person else []
        if role == "dept_head":
            return list(self.heads.get(case.department_id, [])) if case.department_id else []
        if role not in self.by_role:
            self.by_role[role] = list(users_with_role(role))
        return self.by_role[role]


@dataclass
class _Escalation:
    """One escalation step decided for a stage row, written by `_escalate` with the others of its set."""

    stage: StageDeadline
    step: int
    role: str
    data: dict
    people: list = field(default_factory=list)


@dataclass
class _Set:
    """What the rows of one set owe, collected by `_examine` and written together by `_write`."""

    warnings: list[Notice] = field(default_factory=list)
    breaches: list[tuple] = field(default_factory=list)  # (case, rules, reason) for accountability
    escalations: list[_Escalation] = field(default_factory=list)


def _locked(pks: list[int]) -> list[StageDeadline]:
    """The rows, locked, with their cases; the cases' channels and responsible people are read once for
    the set (a handful of distinct ones) rather than joined into every row."""
    rows = list(
        StageDeadline.objects.select_for_update(of=("self",))
        .select_related("case")
        .filter(pk__in=pks)
        .order_by("pk")
    )
    cases = [s.case for s in rows]
    channels = {c.pk: c for c in Channel.objects.filter(pk__in={c.channel_id for c in cases})}
    people = {c.handler_id for c in cases} | {c.first_responder_id for c in cases}
    users = {u.pk: u for u in get_user_model().objects.filter(pk__in=people - {None})}
    for case in cases:
        case.channel = channels.get(case.channel_id)
        case.handler = users.get(case.handler_id)
        case.first_responder = users.get(case.first_responder_id)
    return rows


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
            owed = _Set()
            _examine(s, now, report, owed)
            _write(owed, now, report)
            s.save(update_fields=_SAVED)


def _process_set(pks: list[int], now: dt.datetime, report: SweepReport) -> list[int]:
    """The rows of one chunk in one transaction; returns those left to `_process` (expirations).

    Set-based throughout: one locking read of the rows (with their cases), the warnings, breaches and
    escalations decided in Python, then written together (`_write`) and the rows updated in one
    statement: a fixed number of queries per chunk, whatever the number of due rows in it."""
    expiring: list[int] = []
    with transaction.atomic():
        rows, owed = [], _Set()
        for s in _locked(pks):
            if not _due(s, now):
                continue
            spec = STAGES.get(s.stage)
            if spec is not None and spec.expires_with and now >= s.due_at:
                expiring.append(s.pk)
                continue
            _examine(s, now, report, owed)
            rows.append(s)
        _write(owed, now, report)
        stamp = timezone.now()
        for s in rows:
            s.updated_at = stamp
        update_rows(rows, _SAVED)
    return expiring


def _due(s: StageDeadline, now: dt.datetime) -> bool:
    """Re-checked under the row lock: another sweep or an event may have handled it meanwhile."""
    if s.state != StageDeadline.State.OPEN or s.paused_at is not None:
        return False
    return s.next_check_at is not None and s.next_check_at <= now


def _examine(s: StageDeadline, now: dt.datetime, report: SweepReport, owed: _Set) -> None:
    """Warning, breach and the escalation steps now due of one locked row, added to `owed` (written by
    `_write` with the others of the set). Moves `next_check_at` on."""
    report.examined += 1
    case = s.case
    rules = rules_for(case.policy_id)
    cal = calendar_for_case(case, rules)
    due_text = format_instant(s.due_at)
    data = {"case": case.number, "stage": s.stage, "ref": s.ref, "due_at": due_text}

    if s.breached_at is None and s.warned_at is None and s.warn_at <= now <= s.due_at:
        s.warned_at = now
        report.warnings += 1
        person = responsible_person(case)
        owed.warnings.append(
            Notice(
                [person] if person else [],
                kind="sla.warning",
                message="sla.warning",
                params={"n": case.number, "stage": s.stage, "due_at": due_text},
                case=case,
                key=f"sla:{s.pk}:warn",
                event="sla.warning",
                data=data,
            )
        )

    if s.breached_at is None and now > s.due_at:
        s.breached_at = now
        report.breaches += 1
        owed.breaches.append((case, rules, f"breach:{s.stage}"[:40]))

    if s.breached_at is not None:
        chain, grace, _ = escalation_settings(rules)
        while s.escalation_step < len(chain) and now >= escalation_time(s, grace[s.escalation_step], cal):
            step = s.escalation_step
            owed.escalations.append(_Escalation(s, step + 1, chain[step], data))
            s.escalation_step = step + 1

    s.next_check_at = next_check(s, rules, cal)


def _write(owed: _Set, now: dt.datetime, report: SweepReport) -> None:
    """What a set of rows owes: the accountability of its breaches, its escalations as events on their
    cases' timelines (one `perform_many`: the cases locked together, the events chained and
    bulk-written, the subscribers in their set form), then the warnings and escalations told (one
    `notify_many`). The same rows, events and notifications as row by row, in a fixed number of
    statements per set."""
    report.accountabilities += propose_accountabilities(owed.breaches, now=now)
    notices = list(owed.warnings)
    if owed.escalations:
        people = _People(owed.escalations)
        items = []
        for e in owed.escalations:
            e.people = people(e.role, e.stage.case)
            items.append(
                (
                    e.stage.case_id,
                    {
                        "stage": e.stage.stage,
                        "ref": e.stage.ref,
                        "step": e.step,
                        "role": e.role,
                        "notified": [u.get_username() for u in e.people],
                        "due_at": e.data["due_at"],
                    },
                )
            )
        result = perform_many("escalate", items, None, now=now)
        if result.refused:
            # escalate starts from any status: a refusal is a real fault (the set is redone row by row).
            raise next(iter(result.refused.values()))
        for e, (_pk, payload) in zip(owed.escalations, items, strict=True):
            case = e.stage.case
            notices.append(
                Notice(
                    e.people,
                    kind="sla.escalation",
                    message="sla.escalation",
                    params={
                        "n": case.number,
                        "stage": e.stage.stage,
                        "step": e.step,
                        "due_at": e.data["due_at"],
                    },
                    case=case,
                    key=f"sla:{e.stage.pk}:esc{e.step}",
                    event="sla.escalated",
                    data={**e.data, "step": e.step, "role": e.role, "notified": payload["notified"]},
                )
            )
        report.escalations += len(owed.escalations)
    notify_many(notices, now=now)
