"""The chunk writer: `BulkWriter.write(records)` for one chunk, in the caller's transaction.

It grades and prepares the records (`prepare` runs in the reader process), then hands them to its
parts: rows imported before (existing), customers and repeats (customers), new cases (creation).
"""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from typing import Any

from django.db import connection
from django.utils import timezone

from kesu.calendar.workcalendar import get_calendar
from kesu.cases import chain, grading
from kesu.cases.models import Case, CaseEvent, Customer
from kesu.intake import references
from kesu.intake.bulk.common import FINAL_ACTION, SHANGHAI, ChunkResult
from kesu.intake.bulk.creation import CaseCreation
from kesu.intake.bulk.customers import CustomerLookup
from kesu.intake.bulk.existing import ExistingRows
from kesu.intake.bulk.sql import _column_template, _dt_converter
from kesu.intake.mapping import Record
from kesu.policy.rules import Rules
from kesu.sla import services as sla_services


class BulkWriter(ExistingRows, CustomerLookup, CaseCreation):
    """Writes the records of one chunk; create one per batch run and call `write` per chunk."""

    # PostgreSQL: `prepare` formats each case row's file columns as COPY text (`CaseCreation._case_tail`).
    # Off, the writer builds the whole row and psycopg formats it (the SQLite path's rows; tests
    # compare the two).
    copy_case_text = True

    def __init__(
        self,
        *,
        source: str,
        batch_id: int | None,
        rules: Rules,
        policy_id: int,
        actor_id: int | None = None,
        first_case_id: int | None = None,
        now: dt.datetime | None = None,
        run_sla: bool = True,
    ):
        self.source = source
        self.batch_id = batch_id
        self.rules = rules
        self.policy_id = policy_id
        self.actor_id = actor_id
        self.first_case_id = first_case_id
        self.now = now or timezone.now()
        self.run_sla = run_sla
        # Taken now (the reader process calls `prepare` and must not reach the database itself).
        self.calendar = get_calendar(None)
        self.calendars = sla_services.ImportCalendars(rules) if run_sla else None
        self._stage_case_at = sla_services.stage_case_position()
        # PostgreSQL: foreign keys checked once per chunk by the importer (kesu.intake.references).
        self.references_per_chunk = references.may_check_per_chunk()
        g = rules.grading
        self.window = dt.timedelta(days=int(g.get("repeat_window_days", 365)))
        self.case_columns, self.case_defaults = _column_template(Case)
        self.customer_columns, self.customer_defaults = _column_template(Customer)
        self.event_columns = [f.column for f in CaseEvent._meta.concrete_fields if f.column != "id"]
        self.to_db_dt = _dt_converter()
        self.vendor = connection.vendor
        self._grade_memo: dict[tuple, tuple[str, list[dict], str]] = {}
        self._json_cache: dict[Any, str] = {}
        self._closing_memo: dict[tuple, str] = {}

    # -- grading --

    def _grade(self, rec: Record, repeat_count: int) -> tuple[str, list[dict], str]:
        key = (repeat_count, rec.people_count, rec.flags, rec.channel_id)
        hit = self._grade_memo.get(key)
        if hit is None:
            probe = SimpleNamespace(
                repeat_count=repeat_count,
                people_count=rec.people_count,
                flag_injury="injury" in rec.flags,
                flag_safety="safety" in rec.flags,
                flag_media="media" in rec.flags,
                flag_lawyer="lawyer" in rec.flags,
                channel_id=rec.channel_id,
                channel=SimpleNamespace(name=rec.channel_name, is_crisis=rec.channel_crisis),
            )
            level, reasons = grading.grade(probe, self.rules, channel_is_crisis=rec.channel_crisis)
            # Canonical JSON: it goes into the register event's payload as is, hashed without a re-parse.
            hit = (level, reasons, chain.canonical_json(reasons))
            if len(self._grade_memo) < 10000:
                self._grade_memo[key] = hit
        return hit

    # -- the chunk --

    def prepare(self, records: list[Record]) -> None:
        """The per-record values that need no database (storage forms of the times, day of receipt,
        working hours to close, and the deadlines of open cases at their likely level). Called where
        the file is read: in the reader process on long imports, so that this work runs beside the
        writer's."""
        to_db, window, calendar = self.to_db_dt, self.window, self.calendar
        now = timezone.now()
        copy_mode = self.copy_case_text and self._case_plan().pg
        for rec in records:
            guess = None
            if self.run_sla and rec.status not in FINAL_ACTION:
                guess = self._deadlines_at_likely_level(rec, now)
            received_db = to_db(rec.received_at)
            closed_db = replied_db = hours = None
            if rec.closed_at is not None:
                closed_db = to_db(rec.closed_at)
                hours = calendar.working_seconds_between(rec.received_at, rec.closed_at) / 3600.0
            if rec.replied_at is not None:
                replied_db = closed_db if rec.replied_at is rec.closed_at else to_db(rec.replied_at)
            registered_db = received_db if rec.registered_at is rec.received_at else to_db(rec.registered_at)
            # The event times as the case-event hash chain reads them (kesu.cases.chain).
            registered_stamp = chain.utc_stamp(rec.registered_at)
            closed_stamp = chain.utc_stamp(rec.closed_at) if rec.closed_at is not None else None
            tail = tail_fk = None
            if copy_mode:
                # The same instants in COPY text: the chain's UTC stamps are valid timestamptz input
                # (formatting each zoned time again was a third of the row's text).
                received_text = (
                    registered_stamp
                    if rec.received_at is rec.registered_at
                    else chain.utc_stamp(rec.received_at)
                )
                replied_text = None
                if rec.replied_at is not None:
                    replied_text = (
                        closed_stamp if rec.replied_at is rec.closed_at else chain.utc_stamp(rec.replied_at)
                    )
                tail, tail_fk = self._case_tail(
                    rec, received_text, registered_stamp, closed_stamp, replied_text
                )
            rec.prepared = (
                rec.received_at.astimezone(SHANGHAI).date(),
                received_db,
                registered_db,
                to_db(rec.received_at - window),
                closed_db,
                replied_db,
                hours,
                guess,
                registered_stamp,
                closed_stamp,
                # PostgreSQL: the case row's file columns in COPY text, and their foreign keys.
                tail,
                tail_fk,
            )

    def _deadlines_at_likely_level(self, rec: Record, now: dt.datetime) -> tuple[str, Any, list[list]]:
        """The deadlines of an open record as if it were the person's first complaint on the matter:
        (level, due_at as stored, stage rows without case id). Most are; for the others `_create`
        sees another level once it has counted the earlier complaints, and computes them again."""
        level = rec.level or self._grade(rec, 1)[0]
        case, event = self._stand_in(rec, None, level)
        stages = sla_services.deadlines_for_imported([(case, event)], self.rules, self.calendars)
        due = self.to_db_dt(case.due_at) if case.due_at is not None else None
        return level, due, sla_services.stage_rows(stages, now, self.vendor)

    def write(self, records: list[Record], *, dry_run: bool = False) -> ChunkResult:
        result = ChunkResult()
        if not records:
            return result
        if records[0].prepared is None:
            self.prepare(records)
        fresh, seen = self._split_existing(records, result)
        if fresh and not dry_run:
            self._create(fresh, result)
        elif fresh:
            result.created += len(fresh)
        del seen
        result.outcomes.sort(key=lambda o: o.row)
        return result
