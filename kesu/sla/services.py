"""Deadline engine: every write of kesu.sla (stage deadlines, extensions, calendar, accountability).

`after_case_event` is called by `kesu.cases.services.perform` (and `register_case`) inside their
transaction after every event; it opens, meets, pauses and recomputes the case's stage deadlines
(see `kesu.sla.stages`) and keeps `Case.due_at` = the earliest open, running stage deadline.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import Min
from django.utils import timezone
from django.utils.translation import gettext as _

from kesu.calendar import services as calendar_services
from kesu.calendar.models import CalendarDay
from kesu.calendar.workcalendar import (
    SHANGHAI,
    Duration,
    WorkCalendar,
    calendar_for_case,
    format_instant,
    get_calendar,
)
from kesu.cases.models import Accountability
from kesu.cases.services import perform
from kesu.cases.storable import insert_rows, sqlite_datetime
from kesu.errors import Conflict, Forbidden, Invalid
from kesu.org.selectors import direct_supervisor, direct_supervisors, has_role, users_with_role
from kesu.sla.models import StageDeadline
from kesu.sla.notify import Notice, notify, notify_many
from kesu.sla.stages import FINISHED, NEUTRAL_ACTIONS, STAGES

log = logging.getLogger("kesu.sla")

GRADED_LEVELS = ("urgent", "major", "crisis")
ONE_SECOND = dt.timedelta(seconds=1)


# --- policy access ---------------------------------------------------------------------------


def sla_section(rules) -> dict[str, Any]:
    return rules.section("sla") if rules is not None else {}


def escalation_settings(rules) -> tuple[list[str], list[float], float]:
    esc = rules.section("escalation") if rules is not None else {}
    chain = list(esc.get("chain", ["handler", "dept_head", "supervisor", "cs_manager", "general_manager"]))
    grace = [float(x) for x in esc.get("grace_working_hours", [0] * len(chain))]
    grace += [grace[-1] if grace else 0.0] * (len(chain) - len(grace))
    return chain, grace, float(esc.get("warn_at_share", 0.8))


def matching_rules(rules, stage: str, case) -> list[dict[str, Any]]:
    out = []
    channel = case.channel.code if case.channel_id else ""
    for rule in rules.sla_rules if rules is not None else []:
        if rule.get("stage") != stage:
            continue
        if rule.get("levels") and case.level not in rule["levels"]:
            continue
        if rule.get("kinds") and case.kind not in rule["kinds"]:
            continue
        if rule.get("channels") and channel not in rule["channels"]:
            continue
        # A rule set by the complainant's requested time applies only to a case that has one
        # (getattr: the importer's and the intake preview's stand-ins may carry none).
        if rule.get("customer_time") and getattr(case, "customer_due_at", None) is None:
            continue
        out.append(rule)
    return out


_rule_source_cache: dict[int, tuple[dict[str, Any], str]] = {}


def _rule_source(rules, rule: dict[str, Any]) -> str:
    # Cached per rule dict (checked by identity): imports compute it for every stage of every case.
    hit = _rule_source_cache.get(id(rule))
    if hit is not None and hit[0] is rule:
        return hit[1]
    narrow = ",".join(f"{k}={'/'.join(rule[k])}" for k in ("levels", "kinds", "channels") if rule.get(k))
    limit = "customer_time" if rule.get("customer_time") else f"{rule['amount']} {rule['unit']}"
    text = f"{getattr(rules, 'code', '?')}:{rule['stage']} {limit} from {rule['start']}"
    text = (text + (f" [{narrow}]" if narrow else ""))[:200]
    if len(_rule_source_cache) > 1000:
        _rule_source_cache.clear()
    _rule_source_cache[id(rule)] = (rule, text)
    return text


def _anchor(rule: dict[str, Any], stage: StageDeadline, case) -> dt.datetime:
    start = rule.get("start")
    if stage.ref.startswith(("reopen", "facts")):
        # A reopened case owes a new answer from the reopening; new facts restart it from their receipt.
        return stage.starts_at
    if start == "received" and case.received_at:
        return case.received_at
    if start == "last_contact" and case.last_contact_at:
        return case.last_contact_at
    return stage.starts_at


# --- computing one stage ------------------------------------------------------------------------


def compute_stage(stage: StageDeadline, case, rules, cal: WorkCalendar) -> bool:
    """Fill the stage's due/warn times from the best matching rule; False when no rule applies.

    The earliest deadline of the matching rules binds, except where the complainant asked for a time
    and a rule says `customer_time = true` (001 篇8 六二）1: during a hotel stay the guest's time is the
    limit): that rule alone decides, earlier or later than the others.
    """
    candidates = matching_rules(rules, stage.stage, case)
    customer = _customer_time(candidates, stage, case)
    if customer is not None:
        rule, anchor, due = customer
        # Kept as the whole clock hours from the anchor, rounded up, so that what reads a stage's limit
        # (the promise told to the complainant, warnings, pauses, extensions) reads this one too.
        amount, unit = max(1, math.ceil((due - anchor) / dt.timedelta(hours=1))), "calendar_hours"
        fallback = False
    else:
        candidates = [r for r in candidates if not r.get("customer_time")]
        if not candidates:
            return False
        best = None
        for rule in candidates:
            duration = Duration(int(rule["amount"]), rule["unit"])
            anchor = _anchor(rule, stage, case)
            result = cal.deadline(anchor, duration)
            if best is None or result.due < best[1].due:
                best = (rule, result, anchor)
        rule, result, anchor = best
        due, fallback = result.due, result.fallback
        amount, unit = int(rule["amount"]), rule["unit"]
    stage.amount, stage.unit = amount, unit
    stage.rule_source = _rule_source(rules, rule)
    stage.base_due_at = due
    if stage.extension_days:
        ext = cal.add_working_days(due, stage.extension_days)
        due, fallback = ext.due, fallback or ext.fallback
    for start_iso, end_iso in stage.pauses or []:
        p_from, p_to = dt.datetime.fromisoformat(start_iso), dt.datetime.fromisoformat(end_iso)
        if p_from <= due:
            due = cal.extend(due, stage.unit, p_from, p_to)
    fallback = fallback or bool(
        cal._fallback_years(anchor.astimezone(SHANGHAI).date(), due.astimezone(SHANGHAI).date())
    )
    stage.due_at = due
    _, _, share = escalation_settings(rules)
    stage.warn_at = cal.warn_at(stage.unit, anchor, due, share)
    stage.under_fallback = fallback
    return True


def _customer_time(
    candidates: list[dict[str, Any]], stage: StageDeadline, case
) -> tuple[dict[str, Any], dt.datetime, dt.datetime] | None:
    """The rule, anchor and due time when the complainant's requested time decides the stage.

    Not when that time is not after the stage's anchor (a case reopened after it, new facts received
    after it): the time was asked for the first answer, so the other rules give the new one.
    """
    due = getattr(case, "customer_due_at", None)
    for rule in candidates:
        if rule.get("customer_time") and due is not None:
            anchor = _anchor(rule, stage, case)
            if due > anchor:
                return rule, anchor, due
    return None


def next_check(stage: StageDeadline, rules, cal: WorkCalendar) -> dt.datetime | None:
    """The next instant the sweeper has work on this stage (warning, breach, escalation step)."""
    if stage.state != StageDeadline.State.OPEN or stage.paused_at is not None:
        return None
    if stage.breached_at is None:
        if stage.warned_at is None and stage.warn_at < stage.due_at:
            return stage.warn_at
        return stage.due_at + ONE_SECOND
    chain, grace, _ = escalation_settings(rules)
    if stage.escalation_step >= len(chain):
        return None
    return escalation_time(stage, grace[stage.escalation_step], cal)


def escalation_time(stage: StageDeadline, grace_hours: float, cal: WorkCalendar) -> dt.datetime:
    if grace_hours <= 0:
        return stage.due_at + ONE_SECOND
    return cal.add_working_hours(stage.due_at, grace_hours).due


# --- the hook -------------------------------------------------------------------------------------


# The stages of a case computed before its insert (`before_registration`), kept on the instance until
# its register event writes them with the case's id.
_PENDING_STAGES = "_sla_stages_before_insert"


def before_registration(case, event, rules) -> None:
    """A case about to be registered (no id yet): its stages in memory and its binding deadline set on
    the instance, so the case's insert carries `due_at` (an update after the insert was one statement
    more per registration, one per case in a batch). The register event's `after_case_event` writes
    the stages."""
    stages: dict[tuple[str, str], StageDeadline] = {}
    _dirty, due = _recompute_stages(case, event, rules, stages)
    # In UTC, as the database gives it back (the create endpoint presents this instance unread).
    case.due_at = due.astimezone(dt.UTC) if due is not None else None
    case.__dict__[_PENDING_STAGES] = stages


# The stages of a case recomputed before `perform` updates its row (`before_case_update`) and the keys
# that changed, kept on the instance until the event's `after_case_event` writes them.
_PENDING_UPDATE = "_sla_stages_before_update"


def before_case_update(case, event, rules) -> None:
    """A case an action changed (its row not yet updated): its stages recomputed in memory and its
    binding deadline set on the instance, so `perform`'s update of the row carries `due_at` (an update
    after it was one statement more per action). The event's `after_case_event` writes the stages."""
    if event.action in NEUTRAL_ACTIONS:
        return
    stages = {(s.stage, s.ref): s for s in StageDeadline.objects.filter(case=case)}
    dirty, due = _recompute_stages(case, event, rules, stages)
    # In UTC, as the database gives it back (the instance is presented and compared unread).
    case.due_at = due.astimezone(dt.UTC) if due is not None else None
    case.__dict__[_PENDING_UPDATE] = (stages, dirty)


def _pending_stages(case) -> dict[tuple[str, str], StageDeadline] | None:
    """The stages `before_registration` computed for this (now inserted) case, given its id."""
    stages = case.__dict__.pop(_PENDING_STAGES, None)
    for s in (stages or {}).values():
        s.case_id = case.pk
    return stages


def after_case_event(case, event, rules) -> list[StageDeadline] | None:
    """Recompute the case's deadlines after an event. Runs inside `perform`'s transaction.

    Imported cases are included: the bulk importer writes their history without calling this (no
    live deadlines or escalations for what happened in another system), but whatever is done to
    them in Kesu afterwards runs on deadlines like any other case.

    Returns the case's stages as written (None for a neutral event), for the answer promise.
    """
    if event.action in NEUTRAL_ACTIONS:
        return None
    pending = _pending_stages(case) if event.action == "register" else None
    updated = case.__dict__.pop(_PENDING_UPDATE, None)
    if pending is not None:
        # Computed before the insert (`before_registration`): every stage is new, `due_at` written.
        stages, dirty, due = pending, set(pending), case.due_at
    elif updated is not None:
        # Computed before `perform` updated the row (`before_case_update`): `due_at` written with it.
        (stages, dirty), due = updated, case.due_at
    else:
        # A "register" event is always a case created in this transaction: it has no stages yet.
        stages = (
            {}
            if event.action == "register"
            else {(s.stage, s.ref): s for s in StageDeadline.objects.filter(case=case)}
        )
        dirty, due = _recompute_stages(case, event, rules, stages)
    # The stages this event opened in one insert (a registration opens two or three), the changed ones
    # one by one.
    opened = [key for key in dirty if stages[key].pk is None]
    if opened:
        StageDeadline.objects.bulk_create([stages[key] for key in opened])
    for key in dirty.difference(opened):
        stages[key].save()

    # 6. accountability proposed when the case is graded urgent/major/crisis
    if event.action in ("register", "accept", "regrade", "assign", "start_investigation"):
        propose_graded_accountability(case, rules, event.created_at)

    # 7. the case's binding deadline
    if case.due_at != due:
        type(case).objects.filter(pk=case.pk).update(due_at=due)
        # In UTC, as the database gives it back (the create endpoint presents this instance unread).
        case.due_at = due.astimezone(dt.UTC) if due is not None else None
    return list(stages.values())


def after_registrations(items) -> list[list[StageDeadline]]:
    """`after_case_event` for a set of register events (cases created in this transaction, no stages
    yet): per case its stages as written. One insert for every stage, one update of the binding
    deadlines that are set."""
    out: list[list[StageDeadline]] = []
    due_set = []
    for case, event, rules in items:
        pending = _pending_stages(case)
        if pending is not None:
            # Computed before the insert (`before_registration`): `due_at` is in the case's row.
            stages, due = pending, case.due_at
        else:
            stages = {}
            _dirty, due = _recompute_stages(case, event, rules, stages)
        propose_graded_accountability(case, rules, event.created_at)
        if case.due_at != due:
            case.due_at = due.astimezone(dt.UTC) if due is not None else None
            due_set.append(case)
        out.append(list(stages.values()))
    # `bulk_create` without its per-value compile: a batch of registrations opens 2-3 stages a case.
    insert_rows([s for stages in out for s in stages])
    if due_set:
        # One prepared statement for the set (`bulk_update` would build a CASE over every row).
        model = type(due_set[0])
        table = connection.ops.quote_name(model._meta.db_table)
        with connection.cursor() as cursor:
            cursor.executemany(
                f'UPDATE {table} SET "due_at" = %s WHERE "id" = %s',
                [(connection.ops.adapt_datetimefield_value(c.due_at), c.pk) for c in due_set],
            )
    return out


def _recompute_stages(
    case,
    event,
    rules,
    stages: dict[tuple[str, str], StageDeadline],
    cal: WorkCalendar | None = None,
    new_stage: Callable[..., Any] = StageDeadline,
) -> tuple[set[tuple[str, str]], dt.datetime | None]:
    """Steps 1-5 of `after_case_event` in memory: the changed stage keys and the case's binding deadline.

    `new_stage` makes the stages this event opens: model instances, or for the bulk importer (which
    writes the rows itself) `_unsaved_stage` stand-ins.
    """
    now = event.created_at
    cal = cal or calendar_for_case(case, rules)
    dirty: set[tuple[str, str]] = set()
    payload = event.payload or {}

    # 1. stages met by this action
    for key, s in stages.items():
        if s.state != StageDeadline.State.OPEN:
            continue
        spec = STAGES.get(s.stage)
        if spec is None or event.action not in spec.ends:
            continue
        pred = spec.ends[event.action]
        if pred is not None and not pred(event):
            continue
        if spec.ref_key and s.ref and str(payload.get(spec.ref_key, s.ref)) != s.ref:
            continue
        s.state, s.met_at = StageDeadline.State.MET, now
        if s.paused_at is not None:
            s.pauses = [*s.pauses, [s.paused_at.isoformat(), now.isoformat()]]
            s.paused_at = None
        dirty.add(key)

    # 2. finished cases: nothing else is owed except the follow-up
    if case.status in FINISHED:
        for key, s in stages.items():
            spec = STAGES.get(s.stage)
            if s.state == StageDeadline.State.OPEN and not (spec and spec.after_finish):
                s.state = StageDeadline.State.CANCELLED
                dirty.add(key)

    # 3. suspension pauses, resumption resumes
    pause = bool(sla_section(rules).get("pause_on_suspension", True))
    # Outside appraisal, testing or evaluation (鉴定、检测、评估) does not count either, where the policy
    # says so (sla.pauses.appraisal; the action refuses itself otherwise).
    appraisal = bool(sla_section(rules).get("pauses", {}).get("appraisal"))
    if (event.action == "suspend" and pause) or (event.action == "start_appraisal" and appraisal):
        for key, s in stages.items():
            spec = STAGES.get(s.stage)
            if (
                s.state == StageDeadline.State.OPEN
                and s.paused_at is None
                and spec
                and spec.paused_by_suspension
            ):
                s.paused_at = now
                dirty.add(key)
    if event.action in ("resume", "end_appraisal"):
        for key, s in stages.items():
            if s.state == StageDeadline.State.OPEN and s.paused_at is not None:
                s.pauses = [*s.pauses, [s.paused_at.isoformat(), now.isoformat()]]
                s.paused_at = None
                dirty.add(key)

    # 4. stages opened by this action
    for name, spec in STAGES.items():
        if event.action not in spec.opens:
            continue
        pred = spec.opens[event.action]
        if pred is not None and not pred(event):
            continue
        if not matching_rules(rules, name, case):
            continue
        ref = ""
        if spec.ref_key and payload.get(spec.ref_key) is not None:
            ref = str(payload[spec.ref_key])
        elif event.action in ("reopen", "follow_up") and name == "answer":
            ref = f"reopen{case.reopen_count}"
        elif event.action == "merge_repeat":
            ref = f"facts{event.seq}"
            # The running answer clock is replaced, not met: the new one runs from the new receipt.
            for okey, old in stages.items():
                if old.stage == name and old.state == StageDeadline.State.OPEN:
                    old.state = StageDeadline.State.CANCELLED
                    dirty.add(okey)
        key = (name, ref)
        if key in stages and stages[key].state == StageDeadline.State.OPEN:
            continue  # e.g. a re-assignment does not restart the first-contact clock
        if key in stages:
            continue
        # case_id, not case=: the bulk importer passes light stand-ins for rows not yet written.
        s = new_stage(case_id=case.pk, stage=name, ref=ref, starts_at=now)
        if event.action == "register" and name == "record":
            s.starts_at = case.received_at
        elif event.action == "merge_repeat" and payload.get("received_at"):
            s.starts_at = dt.datetime.fromisoformat(str(payload["received_at"]))
        stages[key] = s
        dirty.add(key)
        if not compute_stage(s, case, rules, cal):
            del stages[key]
            dirty.discard(key)
            continue
        if event.action in spec.ends:
            s.state, s.met_at = StageDeadline.State.MET, now

    # 5. recompute every open stage (levels, kinds, calendar may have changed)
    for key, s in stages.items():
        if s.state == StageDeadline.State.OPEN:
            old = (s.due_at, s.warn_at, s.under_fallback)
            if s.pk is None or compute_stage(s, case, rules, cal):
                if old != (s.due_at, s.warn_at, s.under_fallback):
                    dirty.add(key)
            if event.action == "recompute_deadlines" and s.breached_at and s.due_at >= now:
                # A corrected calendar moved the deadline beyond now: the breach was an artefact.
                s.breached_at, s.escalation_step, s.warned_at = None, 0, None
                dirty.add(key)
        nc = next_check(s, rules, cal)
        if nc != s.next_check_at:
            s.next_check_at = nc
            dirty.add(key)

    running = [
        s.due_at for s in stages.values() if s.state == StageDeadline.State.OPEN and s.paused_at is None
    ]
    return dirty, (min(running) if running else None)


# --- extension ----------------------------------------------------------------------------------


def deadlines_for_imported(
    items: list[tuple[Any, Any]], rules, calendars: ImportCalendars | None = None
) -> list[SimpleNamespace]:
    """Stage deadlines of imported cases that are still open (e.g. a call centre's open work orders).

    Called by the bulk importer once per chunk, before it writes the chunk's rows: `items` pairs a
    stand-in for each new case (the attributes the deadline rules read: pk, status, level, kind,
    channel.code, branch_id, received_at, last_contact_at, reopen_count, due_at) with its
    registration event (action, payload, created_at). The registration is replayed through the
    same steps as `after_case_event`, so an open imported case gets the stages of one registered
    at the desk, anchored at its original receipt time; `case.due_at` is set, and the new stage
    rows are returned for `stage_rows` once the cases are written. Working in memory saves
    reading back every case of the chunk. Imported cases carry no handler, so no accountability
    is proposed for their grade (`propose_graded_accountability` needs one).

    With `calendars` (taken beforehand, `ImportCalendars`) nothing here reads the database, so
    the importer's file-reading process can compute the deadlines ahead of the writer.
    """
    created: list[StageDeadline] = []
    for case, event in items:
        if event.action in NEUTRAL_ACTIONS:
            continue
        if calendars is not None and _plain_registration(case, event):
            created.extend(calendars.registration_stages(case, event))
            continue
        stages: dict[tuple[str, str], StageDeadline] = {}
        cal = calendars.for_branch(case.branch_id) if calendars is not None else None
        _dirty, case.due_at = _recompute_stages(case, event, rules, stages, cal, _unsaved_stage)
        created.extend(stages.values())
    return created


def _plain_registration(case, event) -> bool:
    """A new case's registration with nothing that makes its stages differ from another's with the same
    (level, kind, channel) but the times: no payload, no requested time, no earlier contact. What the
    importer's stand-ins always are; `ImportCalendars.registration_stages` handles exactly these."""
    return (
        event.action == "register"
        and not event.payload
        and case.status not in FINISHED
        and getattr(case, "customer_due_at", None) is None
        and case.last_contact_at is None
    )


@dataclass(frozen=True)
class _StagePlan:
    """What a plain registration's stage takes from the rules, whatever the times (`_registration_plan`)."""

    name: str
    from_received: bool  # starts at the receipt (the record stage), else at the registration
    # (rule, duration, anchored at the receipt (else at the stage's start), the rule's source text)
    candidates: tuple[tuple[dict[str, Any], Duration, bool, str], ...]
    met: bool  # the registration itself meets it


def _registration_plan(rules, case) -> tuple[_StagePlan, ...] | None:
    """Steps 4-5 of `_recompute_stages` for a plain registration (`_plain_registration`), with
    everything that does not depend on the case's times decided once: which stages open, their
    matching rules and anchors. None when a stage's opening depends on the event (a predicate):
    then the general path runs."""
    plans = []
    for name, spec in STAGES.items():
        if "register" not in spec.opens:
            continue
        if spec.opens["register"] is not None or spec.ref_key:
            return None
        rules_here = [r for r in matching_rules(rules, name, case) if not r.get("customer_time")]
        if not rules_here:
            continue
        plans.append(
            _StagePlan(
                name=name,
                from_received=name == "record",
                candidates=tuple(
                    (
                        r,
                        Duration(int(r["amount"]), r["unit"]),
                        # `_anchor` for a stage without ref: the receipt, or the stage's own start
                        # (last_contact_at is None in a plain registration).
                        r.get("start") == "received",
                        _rule_source(rules, r),
                    )
                    for r in rules_here
                ),
                met="register" in spec.ends and spec.ends["register"] is None,
            )
        )
    return tuple(plans)


def _unsaved_stage(**values: Any) -> SimpleNamespace:
    """A new stage as `stage_rows` reads it: a StageDeadline's field values by attname, at their
    defaults unless given, without a model instance (Django's __init__ was a fifth of an import's
    deadline work)."""
    fixed, factories = _stage_defaults()
    stage = SimpleNamespace(pk=None, **fixed)
    for name, make in factories:
        setattr(stage, name, make())  # a fresh list/dict per stage, never one shared default
    stage.__dict__.update(values)
    return stage


@functools.cache
def _stage_defaults() -> tuple[dict[str, Any], tuple[tuple[str, Callable[[], Any]], ...]]:
    """A StageDeadline's defaults by attname: the fixed values, and the factories (`list`) to call per stage."""
    fixed: dict[str, Any] = {}
    factories = []
    for f in StageDeadline._meta.concrete_fields:
        if f.has_default() and callable(f.default):
            factories.append((f.attname, f.default))
        else:
            fixed[f.attname] = f.get_default()
    return fixed, tuple(factories)


class ImportCalendars:
    """The working calendars an import can need, taken once from the database.

    A branch without calendar rows of its own works on the company calendar, so besides that one
    only the branches with their own days are built.
    """

    def __init__(self, rules) -> None:
        own = CalendarDay.objects.filter(branch__isnull=False).values_list("branch_id", flat=True)
        self.by_branch: dict[int | None, WorkCalendar] = {None: get_calendar(None, rules)}
        for branch_id in set(own):
            self.by_branch[branch_id] = get_calendar(branch_id, rules)

        self.rules = rules
        self._plans: dict[tuple, tuple[_StagePlan, ...] | None] = {}
        _, _, self._share = escalation_settings(rules)

    def for_branch(self, branch_id: int | None) -> WorkCalendar:
        return self.by_branch.get(branch_id, self.by_branch[None])

    def registration_stages(self, case, event) -> list[SimpleNamespace]:
        """The stages a plain registration (`_plain_registration`) opens, as `_recompute_stages` makes
        them, with `case.due_at` set: the rule matching memoised per (level, kind, channel) (an import's
        open cases share a handful of those), only the calendar arithmetic per case.
        tests/sla/test_import_deadlines.py compares the two paths."""
        channel = case.channel.code if case.channel_id else ""
        key = (case.level, case.kind, channel)
        plan = self._plans.get(key, self)
        if plan is self:
            plan = self._plans[key] = _registration_plan(self.rules, case)
        if plan is None:  # an opening that depends on the event: the general path
            stages: dict[tuple[str, str], Any] = {}
            cal = self.for_branch(case.branch_id)
            _dirty, case.due_at = _recompute_stages(case, event, self.rules, stages, cal, _unsaved_stage)
            return list(stages.values())
        cal = self.for_branch(case.branch_id)
        received, registered = case.received_at, event.created_at
        share, out, running = self._share, [], None
        for p in plan:
            starts_at = received if p.from_received else registered
            best = None
            for rule, duration, from_received, source in p.candidates:
                anchor = received if from_received and received else starts_at
                result = cal.deadline(anchor, duration)
                if best is None or result.due < best[1].due:
                    best = (rule, result, anchor, duration, source)
            rule, result, anchor, duration, source = best
            due = result.due
            fallback = result.fallback or bool(
                cal._fallback_years(anchor.astimezone(SHANGHAI).date(), due.astimezone(SHANGHAI).date())
            )
            s = _unsaved_stage(
                case_id=case.pk,
                stage=p.name,
                ref="",
                starts_at=starts_at,
                amount=duration.amount,
                unit=duration.unit,
                rule_source=source,
                base_due_at=due,
                due_at=due,
                warn_at=cal.warn_at(duration.unit, anchor, due, share),
                under_fallback=fallback,
            )
            if p.met:
                s.state, s.met_at = StageDeadline.State.MET, registered
            else:
                # `next_check` of a new open stage: its warning, or the breach when it warns at the deadline.
                s.next_check_at = s.warn_at if s.warn_at < due else due + ONE_SECOND
                if running is None or due < running:
                    running = due
            out.append(s)
        case.due_at = running
        return out


def stage_rows(
    stages: list[StageDeadline], now: dt.datetime | None = None, vendor: str | None = None
) -> list[list[Any]]:
    """New stage rows as the database stores them, in `stage_columns()` order (no database access).
    `vendor`: the database's, when the caller has it (the importer calls this per record)."""
    names, converted = _stage_row_plan(vendor or connection.vendor)
    now = now or timezone.now()
    rows = []
    for s in stages:
        s.created_at = s.updated_at = now
        state = s.__dict__  # field values by attname, without a descriptor call per field
        values = [state[n] for n in names]
        for i, c in converted:
            v = values[i]
            if v is not None:
                values[i] = c(v)
        rows.append(values)
    return rows


@functools.cache
def _stage_row_plan(vendor: str) -> tuple[list[str], list[tuple[int, Any]]]:
    # Per database vendor, once: the importer converts a few stages per record in its reader process.
    convert: list[tuple[int, Any]] = []
    for i, f in enumerate(_stage_fields()):
        kind = f.get_internal_type()
        if kind == "DateTimeField" and vendor != "postgresql":
            convert.append((i, sqlite_datetime))
        elif kind == "JSONField":
            # What JSONField stores on every backend (`adapt_json_value`): the JSON text. A new stage's
            # pauses are the empty list: its text without a json.dumps call per stage.
            convert.append((i, functools.partial(_json_text, functools.partial(json.dumps, cls=f.encoder))))
    return [f.attname for f in _stage_fields()], convert


def _json_text(dumps: Callable[[Any], str], value: Any) -> str:
    return "[]" if type(value) is list and not value else dumps(value)


def _stage_fields() -> list[Any]:
    return [f for f in StageDeadline._meta.concrete_fields if not f.primary_key]


def stage_columns() -> list[str]:
    """The columns of a row of `stage_rows`."""
    return [f.column for f in _stage_fields()]


def stage_case_position() -> int:
    """Where `case_id` sits in a row of `stage_rows` (the importer fills it in once the case has its id)."""
    return [f.attname for f in _stage_fields()].index("case_id")


def apply_extension(case, rules, event) -> dict[str, Any]:
    """`extend_deadline`: move a stage's deadline by N working days, within the policy's maximum.

    The handler (kesu.cases.actions.extend_deadline) has checked `days` and the reason; this refuses
    an extension past the maximum (the whole action rolls back) and returns the old and new due dates.
    """
    days, reason, stage_name = event.payload["days"], event.payload["reason"], event.payload["stage"]
    now = event.created_at
    stage = (
        StageDeadline.objects.select_for_update()
        .filter(case=case, stage=stage_name, state=StageDeadline.State.OPEN)
        .order_by("-pk")
        .first()
    )
    if stage is None:
        raise Conflict("没有可延长的进行中时限", code="no_open_deadline")
    ext = sla_section(rules).get("extension", {})
    # A kind with its own extension rule (003 举报: 30 working days, extended only with the general
    # manager's approval and never beyond 60 days from receipt) is held to that rule instead of the
    # working-day total, which its own answer time may already exceed.
    kind_rule = ext.get("kinds", {}).get(case.kind)
    # A regulator layer's extension tiers (NFRA: 30 days, a further 30 with the higher institution's
    # approval, never beyond 60 from receipt) govern the stages and kinds they name. They replace the
    # company's working-day total unless the company preset keeps its own cap where it is stricter
    # (`sla.extension.with_regulator.rule = "stricter"`): then the earlier of the two limits binds.
    regulator = ext.get("regulator", {})
    if not (
        regulator.get("tiers")
        and stage.stage in regulator.get("stages", ["answer"])
        and case.kind in regulator.get("kinds", [case.kind])
    ):
        regulator = {}
    total_ext = stage.extension_days + days
    if regulator:
        kind_rule = None  # the tiers are checked below, once the new deadline is known
    elif kind_rule:
        role = kind_rule.get("approval_role")
        if role and not has_role(event.actor, role):
            raise Forbidden(_("此类案件延期须经审批人批准"), code="extension_approval")
    else:
        max_total = int(ext.get("max_total_working_days", 20))
        total = total_ext + (stage.amount if stage.unit == "working_days" else 0)
        if total > max_total:
            raise Invalid(
                f"延长后总时限 {total} 个工作日，超过规定上限 {max_total} 个工作日",
                code="extension_limit",
                details={"days": f"最多还可延长 {max(0, max_total - total + days)} 个工作日"},
            )
    old_due = stage.due_at
    stage.extension_days = total_ext
    cal = calendar_for_case(case, rules)
    compute_stage(stage, case, rules, cal)
    if kind_rule:
        anchor = case.received_at if kind_rule.get("start", "received") == "received" else stage.starts_at
        limit = cal.deadline(anchor, Duration(int(kind_rule["max_total"]), kind_rule["unit"])).due
        if stage.due_at > limit:
            raise Invalid(
                _("延长后期限 %(due)s 超过规定上限 %(limit)s")
                % {"due": format_instant(stage.due_at), "limit": format_instant(limit)},
                code="extension_limit",
                details={"days": _("最迟可延至 %(limit)s") % {"limit": format_instant(limit)}},
            )
    if regulator and ext.get("with_regulator", {}).get("rule") == "stricter":
        _company_cap(ext, stage, case, cal)
    tier = _regulator_tier(regulator, stage, case, cal, event.actor) if regulator else None
    if stage.breached_at and stage.due_at >= now:
        stage.breached_at, stage.escalation_step, stage.warned_at = None, 0, None
    elif stage.warned_at and stage.warn_at > now:
        stage.warned_at = None
    stage.next_check_at = next_check(stage, rules, cal)
    stage.save()
    return {
        "stage": stage.stage,
        "days": days,
        "total_extension_days": total_ext,
        "old_due": format_instant(old_due),
        "new_due": format_instant(stage.due_at),
        "reason": reason,
        **(tier or {}),
    }


def _company_cap(ext: dict[str, Any], stage: StageDeadline, case, cal: WorkCalendar) -> None:
    """The company's own total (`max_total_working_days` from receipt) still binds beside a regulator's
    extension tiers where the preset says the stricter rule wins: refuses a deadline beyond it."""
    max_total = int(ext.get("max_total_working_days", 20))
    # A reopened case's or new facts' answer runs from its own start; the first one from receipt.
    anchor = stage.starts_at if stage.ref else case.received_at
    limit = cal.deadline(anchor, Duration(max_total, "working_days")).due
    if stage.due_at <= limit:
        return
    seed = ext["with_regulator"].get("seed") or ext.get("seed") or "sla.extension.with_regulator"
    raise Invalid(
        _(
            "延长后期限 %(due)s 超过本公司延期总时限（%(n)s 个工作日，至 %(limit)s）；本公司规定严于监管规定，从严适用"
        )
        % {"due": format_instant(stage.due_at), "n": max_total, "limit": format_instant(limit)},
        code="extension_limit",
        details={"days": _("最迟可延至 %(limit)s") % {"limit": format_instant(limit)}, "rule": seed},
    )


def _regulator_tier(regulator: dict[str, Any], stage: StageDeadline, case, cal: WorkCalendar, actor):
    """The first of the regulator's extension tiers the new deadline fits in; refuses a deadline beyond
    the last tier, or one that needs an approval role the actor does not hold."""
    anchor = case.received_at if regulator.get("start", "received") == "received" else stage.starts_at
    unit = regulator.get("unit", "calendar_days")
    limit = None
    for number, tier in enumerate(regulator["tiers"], start=1):
        limit = cal.deadline(anchor, Duration(int(tier["max_total"]), unit)).due
        if stage.due_at > limit:
            continue
        role = tier.get("approval_role")
        if role and not has_role(actor, role):
            raise Forbidden(
                _("延长至 %(limit)s 须经上级机构或总公司审批") % {"limit": format_instant(limit)},
                code="extension_approval",
                details={"required_role": role},
            )
        return {"tier": number, "tier_limit": format_instant(limit), "approved_by_role": role or ""}
    raise Invalid(
        _("延长后期限 %(due)s 超过规定上限 %(limit)s")
        % {"due": format_instant(stage.due_at), "limit": format_instant(limit)},
        code="extension_limit",
        details={"days": _("最迟可延至 %(limit)s") % {"limit": format_instant(limit)}},
    )


# --- accountability -------------------------------------------------------------------------------


def responsible_person(case):
    return case.handler or case.first_responder


def propose_accountability(case, rules, *, reason: str, now: dt.datetime):
    """Propose (once per case, person and reason) the penalty the policy sets for this case."""

    person = responsible_person(case)
    if person is None:
        log.info("case %s: no responsible person yet for accountability %s", case.pk, reason)
        return None
    penalty = rules.penalty_for(level=case.level, channel=case.channel.code)
    record, created = Accountability.objects.get_or_create(
        case=case,
        person=person,
        reason=reason,
        defaults={
            "supervisor": direct_supervisor(person),
            "basis": penalty["basis"][:60],
            "person_amount": penalty["person"],
            "supervisor_amount": penalty["supervisor"],
            "reminder": penalty["reminder"],
            "created_at": now,
        },
    )
    if (
        not created
        and record.state == Accountability.State.PROPOSED
        and Decimal(penalty["person"]) > record.person_amount
    ):
        record.person_amount, record.supervisor_amount = penalty["person"], penalty["supervisor"]
        record.basis, record.reminder = penalty["basis"][:60], penalty["reminder"]
        record.save()
    # A proposal without a fine (a reminder only) is on the case and in the penalty list, not in an inbox.
    if created and record.supervisor_id and (record.person_amount or record.supervisor_amount):
        notify([record.supervisor], **_proposal_notice(case, record, reason))
    return record


def _proposal_notice(case, record, reason: str) -> dict[str, Any]:
    """What tells the supervisor of a proposed fine (one proposal or a sweep's set alike)."""
    return {
        "kind": "accountability.proposed",
        "message": "accountability.proposed",
        "params": _proposal_params(case, record, reason),
        "case": case,
        "key": f"acc:{record.pk}",
        "event": "accountability.proposed",
        "data": _proposal_data(case, record, reason),
    }


def propose_accountabilities(items: list[tuple[Any, Any, str]], *, now: dt.datetime) -> int:
    """`propose_accountability` for a set of (case, rules, reason) in a fixed number of statements (the
    sweeper's breaches of one chunk): the earlier proposals and the supervisors read once, the new
    proposals inserted together, their supervisors told through one `notify_many`. Returns how many
    proposals the set has (new or earlier), as the per-case calls would count them.

    The cases' rows are locked by the caller; if a proposal was written meanwhile outside those locks
    (the unique case, person and reason), the set is done again case by case."""
    wanted = []
    for case, rules, reason in items:
        person = responsible_person(case)
        if person is None:
            log.info("case %s: no responsible person yet for accountability %s", case.pk, reason)
            continue
        wanted.append((case, rules, reason, person))
    if not wanted:
        return 0
    earlier = {
        (a.case_id, a.person_id, a.reason): a
        for a in Accountability.objects.filter(
            case_id__in={c.pk for c, *_ in wanted}, reason__in={r for _c, _r, r, _p in wanted}
        )
    }
    supervisors = direct_supervisors(p for *_, p in wanted)
    new: list[tuple[Any, Any, str]] = []
    for case, rules, reason, person in wanted:
        penalty = rules.penalty_for(level=case.level, channel=case.channel.code)
        record = earlier.get((case.pk, person.pk, reason))
        if record is None:
            record = Accountability(
                case=case,
                person=person,
                reason=reason,
                supervisor=supervisors.get(person.pk),
                basis=penalty["basis"][:60],
                person_amount=penalty["person"],
                supervisor_amount=penalty["supervisor"],
                reminder=penalty["reminder"],
                created_at=now,
            )
            earlier[(case.pk, person.pk, reason)] = record
            new.append((case, record, reason))
        elif record.state == Accountability.State.PROPOSED and Decimal(penalty["person"]) > Decimal(
            record.person_amount
        ):
            record.person_amount, record.supervisor_amount = penalty["person"], penalty["supervisor"]
            record.basis, record.reminder = penalty["basis"][:60], penalty["reminder"]
            record.save()
    try:
        with transaction.atomic():
            Accountability.objects.bulk_create([record for _c, record, _r in new], batch_size=500)
    except IntegrityError:
        for case, rules, reason, _person in wanted:
            propose_accountability(case, rules, reason=reason, now=now)
        return len(wanted)
    notify_many(
        [
            Notice([record.supervisor], **_proposal_notice(case, record, reason))
            for case, record, reason in new
            # A proposal without a fine (a reminder only) is on the case and in the penalty list.
            if record.supervisor_id and (Decimal(record.person_amount) or Decimal(record.supervisor_amount))
        ]
    )
    return len(wanted)


def _proposal_params(case, record, reason: str) -> dict[str, Any]:
    person = record.person
    return {
        "n": case.number,
        "reason": reason,  # a code, said in the reader's language
        "person": person.get_full_name() or person.get_username(),
        "amount": str(record.person_amount),
        "sup_amount": str(record.supervisor_amount),
    }


def _proposal_data(case, record, reason: str) -> dict[str, Any]:
    return {
        "case": case.number,
        "reason": reason,
        "person": record.person.get_username(),
        "person_amount": str(record.person_amount),
        "supervisor_amount": str(record.supervisor_amount),
    }


def propose_graded_accountability(case, rules, now: dt.datetime):
    # The grade concerns the handling department: proposed once a handler owns the case, and only for
    # a complaint not judged invalid (000 第2篇 第九条 fines valid, verified complaints).
    if case.level in GRADED_LEVELS and case.handler_id and case.is_valid is not False:
        return propose_accountability(case, rules, reason="graded", now=now)
    return None


def announce_report_to_recipient(case, event) -> None:
    """A report about senior management reaches the chairman (or the policy's recipient) in the inbox
    (003 举报 第十一条); once per case, whether flagged at registration or at acceptance."""
    role = case.report_recipient_role
    notify(
        list(users_with_role(role)),
        kind="report.senior_management",
        message="report.senior_management",
        params={"number": case.number},
        case=case,
        key=f"report-recipient:{case.pk}",
        event="report.senior_management",
        data={"case": case.number, "recipient_role": role},
        now=event.created_at,
    )


# --- calendar administration ------------------------------------------------------------------------


def load_official_schedule(
    year: int,
    holidays: list[tuple[dt.date, str]],
    workdays: list[tuple[dt.date, str]],
    *,
    note: str = "",
    recompute: bool = True,
) -> dict[str, Any]:
    """Enter a year's official State Council schedule; deadlines computed on the fallback are recomputed."""
    result = calendar_services.enter_official_schedule(year, holidays, workdays, note=note)
    result["recomputed_cases"] = (
        recompute_fallback_deadlines(f"录入 {year} 年官方放假安排") if recompute else 0
    )
    return result


def recompute_fallback_deadlines(reason: str, chunk: int = 200) -> int:
    """Recompute (with a `recompute_deadlines` event) every open case with a fallback deadline."""

    count, last = 0, 0
    while True:
        ids = list(
            StageDeadline.objects.filter(
                under_fallback=True, state=StageDeadline.State.OPEN, case_id__gt=last
            )
            .order_by("case_id")
            .values_list("case_id", flat=True)
            .distinct()[:chunk]
        )
        if not ids:
            return count
        for case_id in ids:
            perform(case_id, "recompute_deadlines", None, reason=reason)
            count += 1
        last = ids[-1]


def refresh_case_due(case) -> dt.datetime | None:
    due = StageDeadline.objects.filter(case=case, state="open", paused_at__isnull=True).aggregate(
        m=Min("due_at")
    )["m"]
    type(case).objects.filter(pk=case.pk).update(due_at=due)
    return due


def now() -> dt.datetime:
    return timezone.now()
