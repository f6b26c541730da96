"""A fast synthetic data set for the 1M-case benchmarks (SLA sweep, analytics), built once per database.

    python bench/dataset.py --db sqlite --total 1000000          # builds (or reuses) the cached data set
    BENCH_PG_URL=... python bench/dataset.py --db postgresql --total 1000000

Rows are written with raw SQL (SQLite: `executemany` in large transactions with the journal and
fsync off, a throwaway file; PostgreSQL: `COPY ... FROM STDIN` through psycopg 3), not through the
ORM: customers, cases, their event timelines and one `answer` stage deadline per case
(`kesu.sla.models.StageDeadline`). At ~1M cases it takes a few minutes instead of the ORM's ~50.

What the data look like (seeded, reproducible):
* `total` cases received over `days` days up to NOW (2026-11-23 10:00 Asia/Shanghai, a Monday),
  `open_share` (10 %) open, the rest finished (closed 30 %, archived 58 %, invalid 4 %, answered
  inquiries 6 %, suspended 2 %); the open ones were received in the last ~4 weeks (a queue that
  keeps up with its deadlines), the finished ones uniformly over the period;
* categories, channels (crisis channels rare), levels from the real grading rules
  (`kesu.cases.grading.grade`: repeats of the same customer on the same category, groups, injury
  flag, crisis channels), branches and sub-branches of the demo company (region from the branch),
  products, the handling department from the category, handlers of that department;
* numbers TS+yyyymmdd+nnnn per registration day without gaps, event seq 1 = `register`, `version` =
  the last event's seq (the invariants of `register_case`); the DailySequence counters are advanced;
  open cases have their whole timeline (accept, assign, ...), finished ones (unless full_timelines)
  only `register` and their last step (close, archive, mark_invalid, ...): 2.3M events instead of 7.3M;
* the answer deadline of every case (15 working days, 30 calendar days for major/crisis cases, as
  in the insurance preset), computed with the real working-day calendar for open cases: at NOW
  about 1 % are past due, ~3 % inside their warning window (80 %), the rest running; finished cases'
  deadlines are met (~93 % on time) with `met_at` = the reply;
* the analytics daily-count rollup (`kesu.analytics.rollups.rebuild_daily_counts`, set-based), as the
  transition service keeps it for cases registered through it.

`prepare(name, db, total, ...)` gives a benchmark its own copy: the data set is built once per
parameter set (and schema: the key includes the migration files) into `var/bench/dataset-<key>.sqlite3`
or a PostgreSQL template database `kesu_bench_ds_<key>`, then copied (file copy / CREATE DATABASE
... TEMPLATE), so two benchmarks do not pay the generation twice.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse
from zoneinfo import ZoneInfo

# Run as a script (bench/ on sys.path) or imported as `bench.dataset` (the duel's seed_kesu.py).
sys.path.insert(0, str(Path(__file__).resolve().parent))
from shared import EVENT_PATHS, ROOT, SCRATCH_DIR, pg_base_url  # noqa: E402

SHANGHAI = ZoneInfo("Asia/Shanghai")
UTC = dt.UTC
NOW = dt.datetime(2026, 11, 23, 10, 0, tzinfo=SHANGHAI)
GEN_VERSION = 2  # 2: the analytics daily-count rollup is built with the data

# The open statuses' event paths are the bulk generator's (bench/shared.py), so both data sets agree.
_OPEN_PATHS: dict[str, list[tuple[str, str]]] = {
    status: EVENT_PATHS[status]
    for status in ("registered", "accepted", "assigned", "investigating", "pending_approval", "responding")
}
_DONE_PATHS: dict[str, list[tuple[str, str]]] = {
    "suspended": _OPEN_PATHS["investigating"] + [("suspend", "suspended")],
    "closed": _OPEN_PATHS["responding"] + [("reply", "responding"), ("close", "closed")],
    "archived": _OPEN_PATHS["responding"]
    + [("reply", "responding"), ("close", "closed"), ("follow_up", "closed"), ("archive", "archived")],
    "invalid": [("mark_invalid", "invalid")],
    "answered": [("answer_first_contact", "answered")],
}
_OPEN_WEIGHTS = {
    "registered": 3,
    "accepted": 4,
    "assigned": 12,
    "investigating": 50,
    "pending_approval": 12,
    "responding": 19,
}
_DONE_WEIGHTS = {"closed": 30, "archived": 58, "invalid": 4, "answered": 6, "suspended": 2}
PRODUCTS = [("医疗险", 30), ("重疾险", 20), ("车险", 25), ("寿险", 10), ("意外险", 10), ("年金险", 5)]


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- raw writers --------------------------------------------------------------------------------------


class _Table:
    """Column template of a model's table: defaults for every column, set by name per row."""

    def __init__(self, model, vendor: str, now_value: Any) -> None:
        self.table = model._meta.db_table
        self.columns: list[str] = []
        self.template: list[Any] = []
        for f in model._meta.concrete_fields:
            self.columns.append(f.column)
            kind = f.get_internal_type()
            if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
                value = now_value
            elif f.has_default():
                value = f.get_default()
                if kind == "JSONField":
                    value = json.dumps(value)
            elif f.null:
                value = None
            elif kind in ("CharField", "TextField", "EmailField", "SlugField"):
                value = ""
            else:
                value = None
            if vendor == "sqlite" and isinstance(value, bool):
                value = int(value)
            self.template.append(value)
        self.index = {c: i for i, c in enumerate(self.columns)}

    def row(self, **values: Any) -> list[Any]:
        r = self.template.copy()
        idx = self.index
        for k, v in values.items():
            r[idx[k]] = v
        return r


class _Writer:
    def __init__(self, vendor: str) -> None:
        from django.db import connection

        connection.ensure_connection()
        self.vendor = vendor
        self.raw = connection.connection

    def ts(self, value: dt.datetime | None) -> Any:
        if value is None:
            return None
        if self.vendor == "sqlite":
            # every instant handed in is UTC-aware: drop the "+00:00" (Django's SQLite format)
            return value.isoformat(" ")[:-6]
        return value

    def write(self, table: _Table, rows: list[list[Any]]) -> None:
        if not rows:
            return
        cols = ", ".join(f'"{c}"' for c in table.columns)
        if self.vendor == "sqlite":
            marks = ", ".join("?" for _ in table.columns)
            self.raw.executemany(f'INSERT INTO "{table.table}" ({cols}) VALUES ({marks})', rows)
        else:
            with self.raw.cursor() as cur:
                with cur.copy(f'COPY "{table.table}" ({cols}) FROM STDIN') as copy:
                    for r in rows:
                        copy.write_row(r)

    def drop_indexes(self, tables: list[str]) -> list[str]:
        """SQLite: drop the secondary indexes of `tables` (recreated by `restore`; bulk loads are faster)."""
        if self.vendor != "sqlite":
            return []
        marks = ", ".join("?" for _ in tables)
        rows = self.raw.execute(
            f"SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND tbl_name IN ({marks})",
            tables,
        ).fetchall()
        for name, _sql in rows:
            self.raw.execute(f'DROP INDEX "{name}"')
        return [sql for _name, sql in rows]

    def restore(self, statements: list[str]) -> None:
        for sql in statements:
            self.raw.execute(sql)

    def begin(self) -> None:
        if self.vendor == "sqlite":
            self.raw.execute("BEGIN")

    def commit(self) -> None:
        self.raw.commit() if self.vendor == "postgresql" else self.raw.execute("COMMIT")


# --- the generator ------------------------------------------------------------------------------------


def build(
    total: int,
    *,
    open_share: float = 0.1,
    days: int = 730,
    seed: int = 11,
    now: dt.datetime = NOW,
    batch: int = 25_000,
    repeat_share: float = 0.12,
    full_timelines: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Write the data set into the (migrated, empty) database Django points at. Returns statistics."""
    from django.db import connection, transaction

    from kesu.calendar.workcalendar import get_calendar
    from kesu.cases import grading
    from kesu.cases.demo.company import ensure_org
    from kesu.cases.demo.texts import CATEGORY_TEXTS
    from kesu.cases.models import Case, CaseEvent, Customer, DailySequence
    from kesu.policy.models import Category, Channel, Policy
    from kesu.policy.selectors import NoActivePolicy, active_policy, rules_for
    from kesu.policy.services import load_preset
    from kesu.sla.models import StageDeadline
    from kesu.sla.services import escalation_settings

    started = time.perf_counter()
    vendor = connection.vendor
    rng = random.Random(seed)
    with transaction.atomic():
        try:
            policy = active_policy()
        except NoActivePolicy:
            policy = load_preset("insurance")
        org = ensure_org()
    if not isinstance(policy, Policy):
        policy = Policy.objects.get(pk=getattr(policy, "pk", getattr(policy, "id", None)))
    rules = rules_for(policy)
    _chain, _grace, warn_share = escalation_settings(rules)
    cal = get_calendar(None, rules)
    channels = list(Channel.objects.filter(is_active=True))
    channel_weights = [0.08 if c.is_crisis else (12.0 if c.code == "phone" else 5.0) for c in channels]
    categories = {c.code: c for c in Category.objects.filter(code__in=list(CATEGORY_TEXTS))}
    category_codes = [code for code in CATEGORY_TEXTS if code in categories]
    # A few categories account for most complaints (Pareto).
    category_weights = [1.0 / (1 + k) ** 0.9 for k in range(len(category_codes))]
    texts = {}
    for code in category_codes:
        texts[code] = CATEGORY_TEXTS[code]["texts"][0].format(
            date="3月5日",
            reason="肺炎",
            days=20,
            city="上海",
            product="华诚百万医疗保险",
            amount=1200,
            amount2=5600,
            disease="甲状腺癌",
        )
    inquiry_text = "咨询保单现金价值如何查询。"
    depts = org.departments
    branch_units = [d for d in depts.values() if d.kind in ("branch", "sub_branch")]
    branch_weights = [3.0 if d.kind == "branch" else 1.5 for d in branch_units]
    handlers = {code: [u.pk for u in users] for code, users in org.handlers_by_dept.items() if users}
    intake_ids = [org.users["intake"].pk, org.users.get("intake2", org.users["intake"]).pk]
    channel_pk = {c.code: c.pk for c in channels}
    product_names = [p for p, _w in PRODUCTS]
    product_weights = [w for _p, w in PRODUCTS]

    w = _Writer(vendor)
    ts = w.ts
    now = now.astimezone(UTC)
    now_ts = ts(now)
    t_customer = _Table(Customer, vendor, now_ts)
    t_case = _Table(Case, vendor, now_ts)
    t_event = _Table(CaseEvent, vendor, now_ts)
    t_stage = _Table(StageDeadline, vendor, now_ts)
    B = (lambda b: int(b)) if vendor == "sqlite" else (lambda b: b)  # noqa: E731
    if vendor == "sqlite":
        w.raw.execute("PRAGMA journal_mode=OFF")
        w.raw.execute("PRAGMA synchronous=OFF")
        w.raw.execute("PRAGMA cache_size=-400000")
    dropped = w.drop_indexes([t.table for t in (t_customer, t_case, t_event, t_stage)])

    def next_id(model) -> int:
        from django.db.models import Max

        return (model.objects.aggregate(m=Max("pk"))["m"] or 0) + 1

    case_id0, cust_id0, event_id0, stage_id0 = (
        next_id(Case),
        next_id(Customer),
        next_id(CaseEvent),
        next_id(StageDeadline),
    )

    # Received instants, in order: finished cases uniformly over the period (up to a day ago), open
    # ones mostly in the last three weeks (a queue keeping up with 15 working days), a tail older.
    n_open = int(round(total * open_share))
    n_done = total - n_open
    start = now - dt.timedelta(days=days)
    span_done = (now - dt.timedelta(days=1) - start).total_seconds()
    arrivals: list[tuple[float, bool]] = [(rng.random() * span_done, False) for _ in range(n_done)]
    for _ in range(n_open):
        r = rng.random()
        if r < 0.90:
            age_days = rng.random() * 17
        elif r < 0.985:
            age_days = 17 + rng.random() * 4
        else:
            age_days = 21 + rng.random() * 3
        arrivals.append(((now - start).total_seconds() - age_days * 86400 - 60, True))
    arrivals.sort()
    log(f"dataset: {total} cases ({n_open} open) over {days} days, {vendor}")

    sequences: dict[dt.date, int] = dict(DailySequence.objects.values_list("day", "last"))
    due_cache: dict[tuple[dt.date, str], tuple[dt.datetime, dt.datetime]] = {}
    grade_cache: dict[tuple, tuple[str, str]] = {}
    reg_payload_cache: dict[tuple, str] = {}
    history: dict[tuple[int, str], tuple[int, int, dt.datetime]] = {}
    window = dt.timedelta(days=int(rules.grading.get("repeat_window_days", 365)))
    gen_payload = json.dumps({"generated": True})
    five_min = dt.timedelta(minutes=5)

    case_id, cust_id, event_id, stage_id = case_id0, cust_id0, event_id0, stage_id0
    n_customers = n_events = 0
    counts = {"overdue": 0, "in_warning": 0, "running": 0}
    from itertools import accumulate

    open_names = list(_OPEN_WEIGHTS)
    open_w = list(accumulate(_OPEN_WEIGHTS.values()))
    done_names = list(_DONE_WEIGHTS)
    done_w = list(accumulate(_DONE_WEIGHTS.values()))
    channel_cw = list(accumulate(channel_weights))
    category_cw = list(accumulate(category_weights))
    branch_cw = list(accumulate(branch_weights))
    product_cw = list(accumulate(product_weights))
    surnames = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
    given = ["伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "涛", "明"]

    open_cache: dict[tuple[dt.datetime, bool], tuple[dt.datetime, dt.datetime]] = {}

    def open_due(
        received: dt.datetime, major: bool, amount: int, unit: str
    ) -> tuple[dt.datetime, dt.datetime]:
        """The exact deadline of an open case (received floored to 5 minutes: warn_at is costly)."""
        floor = received.replace(minute=received.minute - received.minute % 5, second=0, microsecond=0)
        hit = open_cache.get((floor, major))
        if hit is None:
            from kesu.calendar.workcalendar import Duration

            due = cal.deadline(floor, Duration(amount, unit)).due
            warn = cal.warn_at(unit, floor, due, warn_share)
            hit = open_cache[(floor, major)] = (due.astimezone(UTC), warn.astimezone(UTC))
        return hit

    def answer_due(received: dt.datetime, major: bool) -> tuple[dt.datetime, dt.datetime, int, str]:
        unit = "calendar_days" if major else "working_days"
        amount = 30 if major else 15
        key = (received.astimezone(SHANGHAI).date(), unit)
        hit = due_cache.get(key)
        if hit is None:
            day_start = dt.datetime.combine(key[0], dt.time(9, 0), tzinfo=SHANGHAI)
            from kesu.calendar.workcalendar import Duration

            due = cal.deadline(day_start, Duration(amount, unit)).due
            hit = (due.astimezone(UTC), cal.warn_at(unit, day_start, due, warn_share).astimezone(UTC))
            due_cache[key] = hit
        return hit[0], hit[1], amount, unit

    for b0 in range(0, total, batch):
        chunk = arrivals[b0 : b0 + batch]
        customers: list[list[Any]] = []
        cases: list[list[Any]] = []
        events: list[list[Any]] = []
        stages: list[list[Any]] = []
        for offset, is_open in chunk:
            received = start + dt.timedelta(seconds=offset)
            received_ts = ts(received)
            # customer: a new one, or (repeats) one of the recent customers
            if cust_id > cust_id0 and rng.random() < repeat_share:
                customer = rng.randrange(max(cust_id0, cust_id - 30000), cust_id)
            else:
                customer = cust_id
                name = rng.choice(surnames) + rng.choice(given)
                customers.append(
                    t_customer.row(
                        id=cust_id,
                        name=name,
                        name_normalized=name,
                        phone=f"1{rng.choice('3578')}{rng.randrange(10**9):09d}",
                        policy_no=f"P{rng.randrange(10**12):012d}",
                        created_at=received_ts,
                    )
                )
                cust_id += 1
            path_from = "registered"
            if is_open:
                status = rng.choices(open_names, cum_weights=open_w)[0]
                path = _OPEN_PATHS[status]
            else:
                status = rng.choices(done_names, cum_weights=done_w)[0]
                path = _DONE_PATHS[status]
                if not full_timelines:
                    # the finished case's timeline compressed to its last step (from its status before)
                    last_action, last_status = path[-1]
                    before = path[-2][1] if len(path) > 1 else "registered"
                    path = [(last_action, last_status)]
                    path_from = before
            channel = rng.choices(channels, cum_weights=channel_cw)[0]
            if status == "answered":
                kind, code, text = "consultation", None, inquiry_text
            else:
                kind = "complaint"
                code = rng.choices(category_codes, cum_weights=category_cw)[0]
                text = texts[code]
            category = categories[code] if code else None
            people = rng.choice([5, 8, 12]) if rng.random() < 0.004 else 1
            injury = rng.random() < 0.003
            repeat_count, repeat_of = 1, None
            if code:
                prev = history.get((customer, code))
                if prev and received - prev[2] <= window:
                    repeat_count, repeat_of = prev[0] + 1, prev[1]
                history[(customer, code)] = (repeat_count, case_id, received)
            gkey = (min(repeat_count, 3), people, injury, code, channel.pk)
            graded = grade_cache.get(gkey)
            if graded is None:
                probe = Case(
                    channel=channel,
                    category=category,
                    kind=kind,
                    people_count=people,
                    flag_injury=injury,
                    repeat_count=repeat_count,
                )
                level, reasons = grading.grade(probe, rules, channel_is_crisis=channel.is_crisis)
                graded = grade_cache[gkey] = (level, json.dumps(reasons, ensure_ascii=False))
            level, reasons_json = graded
            registered = received + five_min
            registered_ts = ts(registered)
            local = registered.astimezone(SHANGHAI)
            day = local.date()
            seq_no = sequences.get(day, 0) + 1
            sequences[day] = seq_no
            branch = rng.choices(branch_units, cum_weights=branch_cw)[0]
            intake = intake_ids[case_id & 1]
            values: dict[str, Any] = dict(
                id=case_id,
                number=f"TS{day:%Y%m%d}{seq_no:04d}",
                customer_id=customer,
                channel_id=channel_pk[channel.code],
                received_at=received_ts,
                registered_at=registered_ts,
                kind=kind,
                category_id=category.pk if category else None,
                description=text,
                people_count=people,
                product=rng.choices(product_names, cum_weights=product_cw)[0],
                region=branch.region,
                branch_id=branch.pk,
                flag_injury=B(injury),
                first_responder_id=intake,
                created_by_id=intake,
                level=level,
                level_reasons=reasons_json,
                status=status,
                version=1 + len(path),
                policy_id=policy.pk,
                repeat_count=repeat_count,
                repeat_of_id=repeat_of,
            )
            handler = None
            if status not in ("registered", "invalid", "answered"):
                dept_code = (category.department_code if category else "") or "SERVICE"
                dept = depts.get(dept_code) or depts["SERVICE"]
                values["department_id"] = dept.pk
                values["is_valid"] = B(True)
                if status != "accepted":
                    pool = handlers.get(dept.code) or handlers["SERVICE"]
                    handler = pool[case_id % len(pool)]
                    values["handler_id"] = handler
            major = level in ("major", "crisis")
            due, warn, amount, unit = answer_due(received, major)
            stage = dict(
                id=stage_id,
                case_id=case_id,
                stage="answer",
                starts_at=received_ts,
                amount=amount,
                unit=unit,
                rule_source="insurance: answer",
                base_due_at=ts(due),
                due_at=ts(due),
                warn_at=ts(warn),
                created_at=registered_ts,
                updated_at=registered_ts,
            )
            # event times: spread over the case's life (open cases: up to now)
            if is_open:
                # exact deadline for open cases (the sweeper acts on them)
                due, warn = open_due(received, major, amount, unit)
                stage.update(base_due_at=ts(due), due_at=ts(due), warn_at=ts(warn))
                stage["next_check_at"] = ts(warn if warn < due else due + dt.timedelta(seconds=1))
                values["due_at"] = ts(due)
                if now > due:
                    counts["overdue"] += 1
                elif now >= warn:
                    counts["in_warning"] += 1
                else:
                    counts["running"] += 1
                life = min((now - registered).total_seconds(), max(1, len(path)) * 4 * 3600.0)
                end = registered + dt.timedelta(seconds=life)
            else:
                if status in ("closed", "archived", "suspended"):
                    budget = (due - received).total_seconds()
                    if rng.random() < 0.93:
                        took = budget * (0.1 + 0.85 * rng.random())
                    else:
                        took = budget + 86400 * (0.5 + 4 * rng.random())
                    replied = received + dt.timedelta(seconds=took)
                    if status == "suspended":
                        values.update(
                            status_before_suspension="investigating",
                            suspended_at=ts(replied),
                            last_contact_at=ts(replied),
                        )
                        stage.update(state="cancelled")
                        end = replied
                    else:
                        closed = replied + dt.timedelta(hours=2)
                        values.update(
                            replied_at=ts(replied), closed_at=ts(closed), closing_criterion="accepted"
                        )
                        stage.update(state="met", met_at=ts(replied))
                        end = closed
                        if status == "archived":
                            archived = closed + dt.timedelta(days=7 + rng.random() * 30)
                            values.update(
                                satisfaction=rng.choice([2, 3, 4, 4, 5, 5, 5]), archived_at=ts(archived)
                            )
                            end = archived
                elif status == "invalid":
                    closed = registered + dt.timedelta(hours=1)
                    values.update(
                        is_valid=B(False),
                        invalid_reason="not_specific",
                        closing_criterion="invalid",
                        closed_at=ts(closed),
                    )
                    stage.update(state="cancelled")
                    end = closed
                else:  # answered inquiry
                    closed = registered + dt.timedelta(minutes=10)
                    values.update(
                        is_valid=B(True),
                        closing_criterion="answered",
                        replied_at=ts(closed),
                        closed_at=ts(closed),
                    )
                    stage.update(state="met", met_at=ts(closed))
                    end = closed
                values["updated_at"] = ts(end)
            cases.append(t_case.row(**values))
            stages.append(t_stage.row(**stage))
            stage_id += 1
            # events: register, then the path
            pkey = (channel.code, kind, level)
            reg_payload = reg_payload_cache.get(pkey)
            if reg_payload is None:
                reg_payload = reg_payload_cache[pkey] = json.dumps(
                    {"channel": channel.code, "kind": kind, "level": level, "generated": True}
                )
            events.append(
                t_event.row(
                    id=event_id,
                    case_id=case_id,
                    seq=1,
                    actor_id=intake,
                    action="register",
                    from_status="",
                    to_status="registered",
                    created_at=registered_ts,
                    payload=reg_payload,
                    is_public=B(True),
                )
            )
            event_id += 1
            if path:
                step = (end - registered) / len(path)
                previous = path_from
                for k, (action, to_status) in enumerate(path, start=2):
                    events.append(
                        t_event.row(
                            id=event_id,
                            case_id=case_id,
                            seq=k,
                            actor_id=handler if (k > 3 and handler) else intake,
                            action=action,
                            from_status=previous,
                            to_status=to_status,
                            created_at=ts(registered + step * (k - 1)),
                            payload=gen_payload,
                        )
                    )
                    event_id += 1
                    previous = to_status
            case_id += 1
        w.begin()
        w.write(t_customer, customers)
        w.write(t_case, cases)
        w.write(t_event, events)
        w.write(t_stage, stages)
        w.commit()
        n_customers += len(customers)
        n_events += len(events)
        if progress and (b0 // batch) % 4 == 3 or b0 + batch >= total:
            log(f"  {min(b0 + batch, total)}/{total} cases, {n_events} events")

    t_index = time.perf_counter()
    w.restore(dropped)
    index_seconds = time.perf_counter() - t_index
    # Advance the per-day counters so that later registrations continue the numbering.
    with transaction.atomic():
        existing = set(DailySequence.objects.filter(day__in=list(sequences)).values_list("day", flat=True))
        DailySequence.objects.bulk_create(
            [DailySequence(day=d, last=v) for d, v in sequences.items() if d not in existing], batch_size=2000
        )
        for d in existing:
            DailySequence.objects.filter(day=d).update(last=sequences[d])
    loaded = time.perf_counter() - started
    with connection.cursor() as cursor:
        if vendor == "postgresql":
            for table in (t_customer, t_case, t_event, t_stage):
                cursor.execute(
                    f"SELECT setval(pg_get_serial_sequence('\"{table.table}\"', 'id'), "
                    f'(SELECT max(id) FROM "{table.table}"))'
                )
    # The analytics daily-count rollup, as the transition service would have kept it (two set-based
    # statements: INSERT … SELECT and INSERT … SELECT … GROUP BY; kesu.analytics.rollups).
    from kesu.analytics.rollups import rebuild_daily_counts

    t_rollup = time.perf_counter()
    rebuild_daily_counts()
    rollup_seconds = time.perf_counter() - t_rollup
    _analyze(vendor)
    return {
        "cases": total,
        "open": n_open,
        "open_deadlines_at_now": counts,
        "customers": n_customers,
        "events": n_events,
        "full_timelines": full_timelines,
        "stage_deadlines": stage_id - stage_id0,
        "now": now.isoformat(),
        "days": days,
        "load_seconds": round(loaded, 1),
        "index_seconds": round(index_seconds, 1),
        "daily_count_rollup_seconds": round(rollup_seconds, 1),
        "seconds": round(time.perf_counter() - started, 1),
        "cases_per_second": round(total / loaded),
    }


def _analyze(vendor: str) -> None:
    """Refresh the planner's statistics (and PostgreSQL's visibility map) after the bulk load."""
    from django.db import connection

    connection.ensure_connection()
    if vendor == "postgresql":
        raw = connection.connection
        prev = raw.autocommit
        raw.autocommit = True
        raw.execute("VACUUM ANALYZE")
        raw.autocommit = prev
    else:
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")


# --- reuse ---------------------------------------------------------------------------------------------


# The apps whose tables the generator writes: a new migration of one of them rebuilds the data set;
# other apps' migrations are applied to the copy (their tables start empty).
WRITTEN_APPS = ("cases", "org", "policy", "sla", "analytics")


def dataset_key(total: int, days: int, open_share: float, seed: int) -> str:
    migrations = sorted(
        str(p.relative_to(ROOT))
        for app in WRITTEN_APPS
        for p in (ROOT / "kesu" / app / "migrations").glob("0*.py")
    )
    digest = hashlib.sha1(
        json.dumps([total, days, open_share, seed, GEN_VERSION, migrations]).encode()
    ).hexdigest()[:10]
    return f"{total}-{digest}"


def _pg_url(base_url: str, dbname: str) -> str:
    return urlunparse(urlparse(base_url)._replace(path="/" + dbname))


def _build_subprocess(url: str, total: int, days: int, open_share: float, seed: int) -> dict[str, Any]:
    env = {
        **os.environ,
        "KESU_DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": "kesu.settings",
        "KESU_TASKS_BACKEND": "django_tasks.backends.dummy.DummyBackend",
        "KESU_LOG_LEVEL": "ERROR",
    }
    cmd = [sys.executable, __file__, "--build-into", url, "--total", str(total), "--days", str(days)]
    cmd += ["--open-share", str(open_share), "--seed", str(seed)]
    out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True, cwd=ROOT, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def prepare(
    name: str, db: str, total: int, *, days: int = 730, open_share: float = 0.1, seed: int = 11
) -> tuple[str, dict[str, Any]]:
    """A fresh database for benchmark `name` holding the data set (built once, then copied).

    Returns (url, info); info holds the generation statistics and whether the data set was reused.
    Django is not set up here (the caller points KESU_DATABASE_URL at the url and sets it up).
    """
    key = dataset_key(total, days, open_share, seed)
    SCRATCH_DIR.mkdir(parents=True, exist_ok=True)
    if db == "sqlite":
        cache = SCRATCH_DIR / f"dataset-{key}.sqlite3"
        meta_path = cache.with_suffix(".json")
        reused = cache.exists() and meta_path.exists()
        if not reused:
            tmp = cache.with_suffix(".tmp")
            tmp.unlink(missing_ok=True)
            stats = _build_subprocess(f"sqlite:///{tmp}", total, days, open_share, seed)
            tmp.replace(cache)
            meta_path.write_text(json.dumps(stats, ensure_ascii=False))
        stats = json.loads(meta_path.read_text())
        target = SCRATCH_DIR / f"{name}.sqlite3"
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(str(target) + suffix).unlink(missing_ok=True)
        t0 = time.perf_counter()
        shutil.copyfile(cache, target)
        return f"sqlite:///{target}", {
            **stats,
            "reused": reused,
            "copy_seconds": round(time.perf_counter() - t0, 1),
        }
    if db != "postgresql":
        raise SystemExit(f"unknown database {db!r}")
    import psycopg

    base = pg_base_url()
    if base is None:
        raise SystemExit("no PostgreSQL: set BENCH_PG_URL (or run through `make bench`)")
    template = f"kesu_bench_ds_{key.replace('-', '_')}"
    with psycopg.connect(base, autocommit=True) as conn:
        row = conn.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s", [template]
        ).fetchone()
    reused = bool(row and row[0])
    if not reused:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{template}"')
        stats = _build_subprocess(_pg_url(base, template), total, days, open_share, seed)
        with psycopg.connect(base, autocommit=True) as conn:
            comment = json.dumps(stats).replace("'", "''")
            conn.execute(f"COMMENT ON DATABASE \"{template}\" IS '{comment}'")
            row = (json.dumps(stats),)
    stats = json.loads(row[0])
    target = f"kesu_bench_{name}"
    t0 = time.perf_counter()
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{target}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{target}" TEMPLATE "{template}"')
    url = _pg_url(base, target)
    return url, {**stats, "reused": reused, "copy_seconds": round(time.perf_counter() - t0, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--total", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--open-share", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--build-into", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build_into:
        os.environ["KESU_DATABASE_URL"] = args.build_into
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kesu.settings")
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0, interactive=False)
        from django.conf import settings

        # the demo staff's passwords: a fast hasher for a throwaway benchmark database
        settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
        stats = build(args.total, open_share=args.open_share, days=args.days, seed=args.seed)
        print(json.dumps(stats, ensure_ascii=False), flush=True)
        return
    url, info = prepare(
        "dataset_check", args.db, args.total, days=args.days, open_share=args.open_share, seed=args.seed
    )
    print(json.dumps({"url": url, **info}, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
