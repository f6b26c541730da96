"""The bulk creation path: many cases per statement, with the same invariants as `register_case`.

`BulkWriter.write(records)` runs inside the caller's transaction (one chunk) and, for the records
of that chunk:

* finds rows whose (external_source, external_id) already exists — unchanged when the facts are
  identical, updated (with an `import_update` event and a version bump) when they differ, rejected
  when the earlier case came from an earlier row of the same file;
* finds or creates the customers in bulk (deduplicated by ID number, then phone);
* counts earlier complaints of the same person on the same matter (from the database and from
  earlier rows of the chunk) and grades every case with `kesu.cases.grading.grade`;
* numbers the cases per day in blocks: one `INSERT … ON CONFLICT … RETURNING` per day and chunk
  advances `DailySequence`, so numbers stay unique and gap-free;
* inserts customers, cases and events with `executemany` (SQLite) or `COPY` (PostgreSQL): the
  `register` event (seq 1, payload `imported: true`) and, for records already closed in the old
  system, the closing event at its original time, so `version` equals the number of events.

Historical (closed) records get no deadlines and raise no escalations; open records are handed to
`kesu.sla` like any new case.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

from django.db import connection
from django.utils import timezone

from kesu.calendar.workcalendar import get_calendar
from kesu.cases import chain, grading, subscribers
from kesu.cases.models import Case, CaseEvent, Customer, DailySequence, Kind, Status
from kesu.cases.storable import sqlite_datetime
from kesu.intake import references
from kesu.intake.mapping import Record
from kesu.policy.rules import Rules
from kesu.sla import services as sla_services
from kesu.sla.models import StageDeadline

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOT_COUNTED_KINDS = (Kind.CONSULTATION, Kind.QUERY, Kind.SUGGESTION)
FINAL_ACTION = {"closed": "close", "invalid": "mark_invalid", "answered": "answer_first_contact"}


@dataclass
class RowOutcome:
    row: int
    external_id: str
    status: str  # updated | unchanged | rejected (created rows are counted in ChunkResult.created)
    number: str = ""
    column: str = ""
    value: str = ""
    reason: str = ""
    note: str = ""


@dataclass
class ChunkResult:
    # Rows updated, unchanged or rejected; created rows are only counted (a million outcome objects
    # would cost seconds and say nothing the case table does not).
    outcomes: list[RowOutcome] = field(default_factory=list)
    created: int = 0
    first_case_id: int | None = None

    def count(self, status: str) -> int:
        if status == "created":
            return self.created
        return sum(1 for o in self.outcomes if o.status == status)


# --- low-level helpers ---------------------------------------------------------------------------


def _is_pg() -> bool:
    return connection.vendor == "postgresql"


def allocate_ids(model, n: int) -> list[int]:
    """Reserve `n` primary keys of `model` (inside the caller's transaction)."""
    if n <= 0:
        return []
    table = model._meta.db_table
    with connection.cursor() as cur:
        if _is_pg():
            cur.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)", [table, n]
            )
            return [r[0] for r in cur.fetchall()]
        # SQLite: the write transaction (BEGIN IMMEDIATE) holds the database lock, so max+1.. is ours.
        cur.execute(
            f"SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = %s), 0), "
            f'COALESCE((SELECT MAX(id) FROM "{table}"), 0))',
            [table],
        )
        start = int(cur.fetchone()[0]) + 1
    return list(range(start, start + n))


def insert_rows(model, columns: list[str], rows: list[tuple]) -> None:
    """Insert many rows: COPY on PostgreSQL, executemany elsewhere."""
    if not rows:
        return
    table = model._meta.db_table
    cols = ", ".join(f'"{c}"' for c in columns)
    with connection.cursor() as cur:
        if _is_pg():
            with cur.cursor.copy(f'COPY "{table}" ({cols}) FROM STDIN') as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join(["%s"] * len(columns))
            cur.executemany(f'INSERT INTO "{table}" ({cols}) VALUES ({marks})', rows)


def select_in(sql: str, params: list[Any], values, *, size: int = 5000) -> list[tuple]:
    """Run `sql` (with one `IN ({in})` condition) for `values` in slices, without the ORM's per-value cost.

    PostgreSQL gets the slice as one array parameter (`= ANY(%s)`): planning a statement with
    thousands of separate parameters costs more than running it.
    """
    out: list[tuple] = []
    values = list(values)
    pg = _is_pg()
    if pg:
        assert "IN ({in})" in sql, sql
        sql = sql.replace("IN ({in})", "= ANY(%s)")
    with connection.cursor() as cur:
        for i in range(0, len(values), size):
            part = values[i : i + size]
            if pg:
                cur.execute(sql, [*params, part])
            else:
                cur.execute(sql.replace("{in}", ", ".join(["%s"] * len(part))), [*params, *part])
            out.extend(cur.fetchall())
    return out


def allocate_numbers(days: dict[dt.date, int], prefix: str = "TS") -> dict[dt.date, list[str]]:
    """Case numbers for `n` cases per day: one atomic upsert per day advances the day's counter."""
    out: dict[dt.date, list[str]] = {}
    table = DailySequence._meta.db_table
    with connection.cursor() as cur:
        for day, n in sorted(days.items()):
            cur.execute(
                f'INSERT INTO "{table}" ("day", "last") VALUES (%s, %s) '
                f'ON CONFLICT ("day") DO UPDATE SET "last" = "{table}"."last" + excluded."last" '
                f'RETURNING "last"',
                [day if _is_pg() else day.isoformat(), n],
            )
            last = int(cur.fetchone()[0])
            stamp = f"{prefix}{day:%Y%m%d}"
            out[day] = [f"{stamp}{k:04d}" for k in range(last - n + 1, last + 1)]
    return out


def _dt_converter():
    if _is_pg():
        return lambda v: v
    return lambda v: None if v is None else sqlite_datetime(v)


def _column_template(model) -> tuple[list[str], dict[str, Any]]:
    """Column names and their default DB values, from the model (so fields added later are filled too)."""
    columns, defaults = [], {}
    for f in model._meta.concrete_fields:
        columns.append(f.column)
        default = f.get_default() if f.has_default() else (None if f.null else f.get_default())
        if f.get_internal_type() == "JSONField":
            defaults[f.column] = json.dumps(default if default is not None else None, ensure_ascii=False)
        elif f.get_internal_type() == "DecimalField" and default is not None and not _is_pg():
            defaults[f.column] = str(default)
        else:
            defaults[f.column] = default
    return columns, defaults


def _jd(cache: dict[Any, str], value: Any) -> str:
    """`json.dumps(value)` for the few distinct codes of an import, cached (bounded)."""
    hit = cache.get(value)
    if hit is None:
        hit = json.dumps(value, ensure_ascii=False, default=str)
        if len(cache) < 10000:
            cache[value] = hit
    return hit


# --- the writer ----------------------------------------------------------------------------------


class BulkWriter:
    """Writes the records of one chunk; create one per batch run and call `write` per chunk."""

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
            rec.prepared = (
                rec.received_at.astimezone(SHANGHAI).date(),
                received_db,
                received_db if rec.registered_at is rec.received_at else to_db(rec.registered_at),
                to_db(rec.received_at - window),
                closed_db,
                replied_db,
                hours,
                guess,
                # The event times as the case-event hash chain reads them (kesu.cases.chain).
                chain.utc_stamp(rec.registered_at),
                chain.utc_stamp(rec.closed_at) if rec.closed_at is not None else None,
            )

    def _deadlines_at_likely_level(self, rec: Record, now: dt.datetime) -> tuple[str, Any, list[list]]:
        """The deadlines of an open record as if it were the person's first complaint on the matter:
        (level, due_at as stored, stage rows without case id). Most are; for the others `_create`
        sees another level once it has counted the earlier complaints, and computes them again."""
        level = rec.level or self._grade(rec, 1)[0]
        case, event = self._stand_in(rec, None, level)
        stages = sla_services.deadlines_for_imported([(case, event)], self.rules, self.calendars)
        due = self.to_db_dt(case.due_at) if case.due_at is not None else None
        return level, due, sla_services.stage_rows(stages, now)

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

    def _split_existing(self, records: list[Record], result: ChunkResult) -> tuple[list[Record], dict]:
        first_row: dict[str, int] = {}
        unique: list[Record] = []
        for rec in records:
            earlier = first_row.get(rec.external_id)
            if earlier is not None:
                result.outcomes.append(
                    RowOutcome(
                        rec.row,
                        rec.external_id,
                        "rejected",
                        column="外部编号",
                        value=rec.external_id,
                        reason=f"与第 {earlier} 行外部编号重复",
                    )
                )
                continue
            first_row[rec.external_id] = rec.row
            unique.append(rec)
        fields = ["id", "external_id", "version", "status", "number", *Record.UPDATABLE]
        table = Case._meta.db_table
        cols = ", ".join(f'"{f}"' for f in fields)
        found = select_in(
            f'SELECT {cols} FROM "{table}" WHERE "external_source" = %s AND "external_id" IN ({{in}})',
            [self.source],
            [r.external_id for r in unique],
        )
        existing = {}
        for values in found:
            row = dict(zip(fields, values, strict=True))
            if row["claimed_amount"] is not None and not isinstance(row["claimed_amount"], Decimal):
                row["claimed_amount"] = Decimal(str(row["claimed_amount"])).quantize(Decimal("0.01"))
            existing[row["external_id"]] = row
        if not existing:
            return unique, first_row
        # Cases this batch created from earlier rows of the same file: a duplicate, not an update.
        ours = [e["id"] for e in existing.values() if self.first_case_id and e["id"] >= self.first_case_id]
        rows_of: dict[int, Any] = {}
        if ours:
            for case_id, payload in CaseEvent.objects.filter(case_id__in=ours, seq=1).values_list(
                "case_id", "payload"
            ):
                imp = (payload or {}).get("import") or {}
                if imp.get("batch") == self.batch_id:
                    rows_of[case_id] = imp.get("row")
        fresh = []
        for rec in unique:
            row = existing.get(rec.external_id)
            if row is None:
                fresh.append(rec)
            elif row["id"] in rows_of:
                result.outcomes.append(
                    RowOutcome(
                        rec.row,
                        rec.external_id,
                        "rejected",
                        column="外部编号",
                        value=rec.external_id,
                        reason=f"与第 {rows_of[row['id']]} 行外部编号重复",
                    )
                )
            else:
                result.outcomes.append(self._update(rec, row))
        return fresh, first_row

    def _update(self, rec: Record, row: dict[str, Any]) -> RowOutcome:
        changes = {}
        for name in Record.UPDATABLE:
            new, old = getattr(rec, name), row[name]
            if new != old and not (new in (None, "") and old in (None, "")):
                changes[name] = (old, new)
        note = ""
        if (
            rec.status != "registered"
            and row["status"] != rec.status
            and row["status"]
            not in (
                Status.CLOSED,
                Status.INVALID,
                Status.ANSWERED,
                Status.ARCHIVED,
            )
        ):
            note = "原系统状态已变化，案件状态未同步，请在系统中办理"
        if not changes:
            return RowOutcome(rec.row, rec.external_id, "unchanged", number=row["number"], note=note)
        version = row["version"]
        done = Case.objects.filter(pk=row["id"], version=version).update(
            version=version + 1, updated_at=self.now, **{k: v[1] for k, v in changes.items()}
        )
        if not done:
            return RowOutcome(
                rec.row,
                rec.external_id,
                "rejected",
                column="外部编号",
                value=rec.external_id,
                reason="案件正被他人修改，请稍后重新导入",
            )
        event = CaseEvent(
            case_id=row["id"],
            seq=version + 1,
            actor_id=self.actor_id,
            action="import_update",
            from_status=row["status"],
            to_status=row["status"],
            created_at=self.now,
            payload=json.loads(
                json.dumps(
                    {
                        "imported": True,
                        "import": {"source": self.source, "batch": self.batch_id, "row": rec.row},
                        "changes": {k: {"old": v[0], "new": v[1]} for k, v in changes.items()},
                    },
                    default=str,
                    ensure_ascii=False,
                )
            ),
        )
        # Chained to the case's latest event: the version check above holds the case row.
        chain.seal(event).save(force_insert=True)
        if changes.keys() & {"product", "region"}:  # dimensions of the analytics day counts
            subscribers.notify_imported(subscribers.ImportedChunk(changed_case_ids=[row["id"]]))
        return RowOutcome(rec.row, rec.external_id, "updated", number=row["number"], note=note)

    def _customers(self, records: list[Record]) -> tuple[list[int | None], dict[int, set[int]], set[int]]:
        """The customer id of every record (None when anonymous), each customer's "same person" ids,
        and the ids of the customers created for this chunk."""
        phones = {r.customer["phone"] for r in records if r.customer.get("phone")}
        idns = {r.customer["id_number"] for r in records if r.customer.get("id_number")}
        by_phone: dict[str, int] = {}
        by_idn: dict[str, int] = {}
        person: dict[int, set[int]] = defaultdict(set)
        if phones or idns:
            table = Customer._meta.db_table
            found = select_in(
                f'SELECT "id", "phone", "id_number" FROM "{table}" WHERE "phone" IN ({{in}})', [], phones
            )
            found += select_in(
                f'SELECT "id", "phone", "id_number" FROM "{table}" WHERE "id_number" IN ({{in}})', [], idns
            )
            found = sorted(set(found))
            for pk, phone, idn in found:
                if phone:
                    by_phone.setdefault(phone, pk)
                if idn:
                    by_idn.setdefault(idn, pk)
            for pk, phone, idn in found:
                canon = by_idn.get(idn) if idn else None
                for other in (canon, by_phone.get(phone) if phone else None):
                    if other is not None:
                        person[other].add(pk)
                        person[pk].add(other)
                person[pk].add(pk)
        new_rows: list[dict[str, Any]] = []
        allocated: list[int] = []
        ids: list[int | None] = []
        pending: list[int] = []  # index into ids waiting for an allocated pk
        for rec in records:
            c = rec.customer
            cid = (by_idn.get(c["id_number"]) if c.get("id_number") else None) or (
                by_phone.get(c["phone"]) if c.get("phone") else None
            )
            if cid is None:
                key = -(len(new_rows) + 1)  # a placeholder until ids are allocated
                new_rows.append(c)
                if c.get("id_number"):
                    by_idn[c["id_number"]] = key
                if c.get("phone"):
                    by_phone[c["phone"]] = key
                cid = key
            ids.append(cid)
            if cid < 0:
                pending.append(len(ids) - 1)
        if new_rows:
            allocated = allocate_ids(Customer, len(new_rows))
            created_at = self.to_db_dt(self.now)
            tuples = []
            cols = self.customer_columns
            for pk, c in zip(allocated, new_rows, strict=True):
                values = dict(self.customer_defaults)
                values.update(
                    id=pk,
                    name=c.get("name", ""),
                    name_normalized="".join(c.get("name", "").split()).lower(),
                    phone=c.get("phone", ""),
                    email=c.get("email", ""),
                    address=c.get("address", ""),
                    id_number=c.get("id_number", ""),
                    policy_no=c.get("policy_no", ""),
                    account_no="",
                    created_at=created_at,
                )
                tuples.append(tuple(values[k] for k in cols))
            insert_rows(Customer, cols, tuples)
            for i in pending:
                ids[i] = allocated[-ids[i] - 1]
        for cid in ids:
            if cid is not None:
                person[cid].add(cid)
        return ids, person, set(allocated)

    def _history(self, records: list[Record], person: dict[int, set[int]]) -> dict[int, list[tuple]]:
        all_ids = set().union(*person.values()) if person else set()
        if not all_ids:
            return {}
        hist: dict[int, list[tuple]] = defaultdict(list)
        table = Case._meta.db_table
        skip = ", ".join(f"'{k}'" for k in NOT_COUNTED_KINDS)
        # By customer only: the receipt window is applied per record in `_create`. With a range on
        # received_at in the query, SQLite (no statistics) walks the receipt index over a year of
        # cases for every slice instead of looking up each customer's few cases.
        found = select_in(
            f'SELECT "customer_id", "received_at", "subject_no", "category_id", "number", "id" FROM "{table}" '
            f'WHERE "kind" NOT IN ({skip}) AND "status" <> %s AND "customer_id" IN ({{in}})',
            [Status.INVALID],
            sorted(all_ids),
        )
        for cid, received, subject_no, category_id, number, pk in found:
            if isinstance(received, dt.datetime) and received.tzinfo is None:
                received = received.isoformat(" ")  # SQLite: naive UTC, compared as Django stores it
            hist[cid].append((received, subject_no, category_id, number, pk))
        return hist

    def _create(self, records: list[Record], result: ChunkResult) -> None:
        customer_ids, person, new_customers = self._customers(records)
        hist = self._history(records, person)
        # Numbers: per day of receipt (Beijing time), one counter advance per day and chunk.
        per_day: dict[dt.date, int] = defaultdict(int)
        days = []
        for rec in records:
            day = rec.prepared[0]
            days.append(day)
            per_day[day] += 1
        numbers = {d: iter(ns) for d, ns in allocate_numbers(per_day).items()}
        case_ids = allocate_ids(Case, len(records))
        if result.first_case_id is None:
            result.first_case_id = case_ids[0]
        if self.first_case_id is None:
            self.first_case_id = case_ids[0]

        to_db = self.to_db_dt
        pg = _is_pg()
        now_db = to_db(self.now)
        cols = self.case_columns
        # One template row per chunk; per record only the positions that vary are set.
        at = {c: i for i, c in enumerate(cols)}
        template = [self.case_defaults[c] for c in cols]
        for name, value in (
            ("client_key", None),
            ("external_source", self.source),
            ("created_by_id", self.actor_id),
            ("policy_id", self.policy_id),
            ("is_imported", True),
            ("updated_at", now_db),
        ):
            template[at[name]] = value
        i_id, i_number, i_customer, i_channel = at["id"], at["number"], at["customer_id"], at["channel_id"]
        i_ext, i_received, i_registered, i_kind = (
            at["external_id"],
            at["received_at"],
            at["registered_at"],
            at["kind"],
        )
        plain = [
            (at[n], n)
            for n in (
                "category_id",
                "business_type",
                "subject",
                "description",
                "demands",
                "people_count",
                "subject_no",
                "product",
                "region",
                "branch_id",
                "department_id",
            )
        ]
        i_amount = at["claimed_amount"]
        i_flags = [(at[f"flag_{f}"], f) for f in ("injury", "safety", "media", "lawyer")]
        i_level, i_reasons, i_overridden = at["level"], at["level_reasons"], at["level_overridden"]
        i_status, i_version, i_repeat, i_repeat_of = (
            at["status"],
            at["version"],
            at["repeat_count"],
            at["repeat_of_id"],
        )
        i_confidential = at["is_confidential"]
        closing_cols = [
            at[n]
            for n in (
                "closed_at",
                "replied_at",
                "last_contact_at",
                "closing_criterion",
                "invalid_reason",
                "is_valid",
                "satisfaction",
            )
        ]
        # JSON of the event payloads from cached fragments (the same few codes recur on every row).
        js = self._json_cache
        # Payloads are written in canonical JSON (sorted keys, no spaces: kesu.cases.chain), so the hash
        # chain reads the same text the row stores, without a parse and a dump per row.
        import_tail = f'"import":{{"batch":{_jd(js, self.batch_id)},"row":'
        import_source = f',"source":{_jd(js, self.source)}}},"imported":true,'
        closing_memo = self._closing_memo
        actor_id = self.actor_id
        event_hash, genesis = chain.event_hash, chain.GENESIS
        ev_template = (None, 1, actor_id, "register", "", Status.REGISTERED, None, None, True, genesis, None)
        ecols = self.event_columns
        assert ecols == [
            "case_id",
            "seq",
            "actor_id",
            "action",
            "from_status",
            "to_status",
            "created_at",
            "payload",
            "is_public",
            "prev_hash",
            "hash",
        ], ecols
        case_rows, event_rows, close_times, count_keys = [], [], [], []
        opened: list[tuple[SimpleNamespace, SimpleNamespace, list]] = []
        i_due = at["due_at"]
        i_stage_case = self._stage_case_at
        stage_rows: list[list] = []  # of open cases, mostly computed ahead by `prepare`
        for rec, cid, pk in zip(records, customer_ids, case_ids, strict=True):
            (
                day,
                received_db,
                registered_db,
                window_start_db,
                closed_db,
                replied_db,
                hours,
                guess,
                registered_stamp,
                closed_stamp,
            ) = rec.prepared
            number = next(numbers[day])
            # Earlier complaints of the same person on the same matter within the window.
            count, latest = 0, None
            if cid is not None and rec.kind not in NOT_COUNTED_KINDS:
                t, lo = received_db, window_start_db
                for other in person.get(cid, (cid,)):
                    for received, subject_no, category_id, num, other_pk in hist.get(other, ()):
                        if not (lo <= received < t):
                            continue
                        if rec.subject_no and subject_no not in (rec.subject_no, ""):
                            continue
                        if rec.category_id and category_id not in (rec.category_id, None):
                            continue
                        count += 1
                        if latest is None or received > latest[0]:
                            latest = (received, num, other_pk)
            repeat_count = count + 1
            level, reasons, reasons_json = self._grade(rec, repeat_count)
            overridden = False
            if rec.level:
                level, overridden = rec.level, True
                reasons = [{"rule": "imported", "level": rec.level, "detail": "原系统等级"}, *reasons]
                reasons_json = chain.canonical_json(reasons)
            final = rec.status if rec.status in FINAL_ACTION else Status.REGISTERED
            row = template.copy()
            row[i_id] = pk
            row[i_number] = number
            row[i_ext] = rec.external_id
            row[i_customer] = cid
            row[i_channel] = rec.channel_id
            row[i_received] = received_db
            row[i_registered] = registered_db
            row[i_kind] = rec.kind
            for i, n in plain:
                row[i] = getattr(rec, n)
            amount = rec.claimed_amount
            row[i_amount] = amount if pg or amount is None else str(amount)
            flags = rec.flags
            for i, f in i_flags:
                row[i] = f in flags
            row[i_level] = level
            row[i_reasons] = reasons_json
            row[i_overridden] = overridden
            row[i_status] = final
            row[i_repeat] = repeat_count
            row[i_repeat_of] = latest[2] if latest else None
            row[i_confidential] = rec.kind == Kind.REPORT
            if final != Status.REGISTERED:
                row[i_version] = 2
                for i, value in zip(
                    closing_cols,
                    (
                        closed_db,
                        replied_db,
                        replied_db or closed_db,
                        rec.closing_criterion,
                        rec.invalid_reason,
                        final != Status.INVALID,
                        rec.satisfaction,
                    ),
                    strict=True,
                ):
                    row[i] = value
                if hours is not None:
                    close_times.append((pk, closed_db, hours))
            else:
                row[i_version] = 1
                if guess is not None and guess[0] == level:
                    row[i_due] = guess[1]
                    for stage in guess[2]:
                        stage[i_stage_case] = pk
                    stage_rows.extend(guess[2])
                elif self.run_sla:
                    opened.append((*self._stand_in(rec, pk, level), row))
            case_rows.append(row)
            count_keys.append(
                (
                    pk,
                    day,
                    rec.kind,
                    rec.category_id,
                    rec.branch_id,
                    rec.channel_id,
                    rec.region or "",
                    rec.product or "",
                )
            )
            extra = ""
            if rec.extra:
                extra = (
                    '"extra":' + chain.canonical_json(json.loads(json.dumps(rec.extra, default=str))) + ","
                )
            payload = (
                f'{{"channel":{_jd(js, rec.channel_code)},{extra}{import_tail}{rec.row}{import_source}'
                f'"kind":{_jd(js, rec.kind)},"level":{_jd(js, level)},"level_reasons":{reasons_json},'
                f'"repeat_count":{repeat_count},"repeat_of":{_jd(js, latest[1]) if latest else "null"}}}'
            )
            register_hash = event_hash(
                case_id=pk,
                seq=1,
                actor_id=actor_id,
                action="register",
                from_status="",
                to_status=Status.REGISTERED,
                created_at=registered_stamp,
                payload_json=payload,
                is_public=True,
                prev_hash=genesis,
            )
            ev = list(ev_template)
            ev[0], ev[6], ev[7], ev[10] = pk, registered_db, payload, register_hash
            event_rows.append(ev)
            if final != Status.REGISTERED:
                key = (
                    final,
                    rec.status,
                    rec.closing_criterion,
                    rec.invalid_reason,
                    rec.outcome_text,
                    rec.satisfaction,
                )
                closing_json = closing_memo.get(key)
                if closing_json is None:
                    closing = {"imported": True, "original_status": rec.status}
                    if rec.closing_criterion:
                        closing["criterion"] = rec.closing_criterion
                    if rec.invalid_reason:
                        closing["reason"] = rec.invalid_reason
                    if rec.outcome_text:
                        closing["outcome"] = rec.outcome_text
                    if rec.satisfaction is not None:
                        closing["satisfaction"] = rec.satisfaction
                    closing_json = chain.canonical_json(closing)
                    if len(closing_memo) < 10000:
                        closing_memo[key] = closing_json
                event_rows.append(
                    (
                        pk,
                        2,
                        actor_id,
                        FINAL_ACTION[final],
                        Status.REGISTERED,
                        final,
                        closed_db,
                        closing_json,
                        True,
                        register_hash,
                        event_hash(
                            case_id=pk,
                            seq=2,
                            actor_id=actor_id,
                            action=FINAL_ACTION[final],
                            from_status=Status.REGISTERED,
                            to_status=final,
                            created_at=closed_stamp,
                            payload_json=closing_json,
                            is_public=True,
                            prev_hash=register_hash,
                        ),
                    )
                )
            # Later rows of this chunk count this one as an earlier complaint.
            if cid is not None and rec.kind not in NOT_COUNTED_KINDS and final != Status.INVALID:
                hist.setdefault(cid, []).append((received_db, rec.subject_no, rec.category_id, number, pk))
            result.created += 1

        if opened:
            # Deadlines of the cases still open whose level `prepare` could not foresee (repeat
            # complaints), computed before the rows are written (due_at goes in with the row) from
            # the same stage table as a case registered at the desk.
            stages = sla_services.deadlines_for_imported(
                [(case, event) for case, event, _ in opened], self.rules, self.calendars
            )
            for case, _event, row in opened:
                row[i_due] = to_db(case.due_at) if case.due_at is not None else None
            stage_rows.extend(sla_services.stage_rows(stages))
        stage_columns = sla_services.stage_columns()
        if self.references_per_chunk:
            refs = references.References()
            refs.add_rows(Case, cols, case_rows)
            refs.add_rows(CaseEvent, ecols, event_rows)
            refs.add_rows(StageDeadline, stage_columns, stage_rows)
            # The subscribers' rows (close times, day-count keys) point only at this chunk's cases and
            # at the ids its case rows point at, verified here with them.
            refs.verify_and_lock({Case: set(case_ids), Customer: new_customers})
        with references.triggers_off(self.references_per_chunk):
            insert_rows(Case, cols, case_rows)
            del case_rows
            insert_rows(CaseEvent, ecols, event_rows)
            insert_rows(StageDeadline, stage_columns, stage_rows)
            # The rollups and whatever else reacts to imported cases (settings.KESU_CASE_EVENT_SUBSCRIBERS).
            subscribers.notify_imported(
                subscribers.ImportedChunk(
                    count_keys=count_keys, close_times=close_times, insert_rows=insert_rows
                )
            )

    def _stand_in(self, rec: Record, pk: int | None, level: str) -> tuple[SimpleNamespace, SimpleNamespace]:
        """What the deadline rules read of a new open case and its registration, before it is written."""
        case = SimpleNamespace(
            pk=pk,
            status=Status.REGISTERED,
            level=level,
            kind=rec.kind,
            channel_id=rec.channel_id,
            channel=SimpleNamespace(code=rec.channel_code),
            branch_id=rec.branch_id,
            received_at=rec.received_at,
            last_contact_at=None,
            reopen_count=0,
            handler_id=None,
            due_at=None,
        )
        event = SimpleNamespace(
            action="register",
            payload={},
            from_status="",
            to_status=Status.REGISTERED,
            created_at=rec.registered_at,
        )
        return case, event
