"""Shared helpers for the benchmarks (`bench/bench_*.py`).

Every benchmark is a standalone script run as `python bench/bench_<name>.py --db sqlite|postgresql`
(`bench/run_all.py` runs all of them on both databases). A script:

    from common import bench_main, generate_cases, measure, size
    ...
    bench_main("core", run)      # run(ctx) -> dict with results / baseline / sizes

* the database is fresh: a new SQLite file under var/bench/, or a new database in the PostgreSQL
  cluster named by BENCH_PG_URL / KESU_PG_URL / KESU_DATABASE_URL (`make bench` starts a throwaway one);
* `size(full, small)` picks the size for BENCH_SCALE (`full`, the default: the sizes the issues state;
  `small`: a quick check; or a number: a factor of the full size);
* `measure(fn, repeat=…)` times a function: median, p95, min, max in milliseconds;
* `generate_cases(total, open_share=…)` bulk-inserts synthetic cases with their events (numbers,
  grading and timelines consistent with the services) so that benchmarks can run on 100k or 1M cases;
* the result is written to bench/results/<name>-<db>.json:
  {name, db, scale, sizes, results, baseline, notes, machine, date, took_s, peak_rss_mb}.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import resource
import statistics
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

from dataset import prepare
from shared import EVENT_PATHS, RESULTS_DIR, ROOT, SCALE, SCRATCH_DIR, pg_base_url, postgres_server_cpu_s

# --- sizes and timing --------------------------------------------------------------------------------


def size(full: int, small: int) -> int:
    """The size for the current BENCH_SCALE: `full` (default), `small`, or a factor such as `0.1`."""
    if SCALE == "full":
        return full
    if SCALE == "small":
        return small
    try:
        return max(1, int(full * float(SCALE)))
    except ValueError:
        raise SystemExit(f"BENCH_SCALE must be full, small or a number, not {SCALE!r}")


def summarize(samples_s: list[float]) -> dict[str, float]:
    """Statistics of durations given in seconds, reported in milliseconds."""
    if not samples_s:
        return {"n": 0}
    ordered = sorted(samples_s)
    p95_index = max(0, min(len(ordered) - 1, int(round(0.95 * len(ordered) + 0.5)) - 1))
    ms = 1000.0
    return {
        "n": len(ordered),
        "median_ms": round(statistics.median(ordered) * ms, 3),
        "p95_ms": round(ordered[p95_index] * ms, 3),
        "mean_ms": round(statistics.fmean(ordered) * ms, 3),
        "min_ms": round(ordered[0] * ms, 3),
        "max_ms": round(ordered[-1] * ms, 3),
    }


def measure(fn: Callable[[], Any], *, repeat: int, warmup: int = 1) -> dict[str, float]:
    """Call `fn` `warmup` times untimed, then `repeat` times timed."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return summarize(samples)


def throughput(fn: Callable[[int], Any], count: int) -> dict[str, float]:
    """Call `fn(i)` for i in range(count); per-call latency statistics plus calls per second overall."""
    samples = []
    t_start = time.perf_counter()
    for i in range(count):
        t0 = time.perf_counter()
        fn(i)
        samples.append(time.perf_counter() - t0)
    total = time.perf_counter() - t_start
    return {**summarize(samples), "total_s": round(total, 3), "per_second": round(count / total, 2)}


def cpu_figure(
    fn: Callable[[], Any],
    *,
    repeat: int,
    goal_cpu_ms: float | None = None,
    warmup: int = 1,
    before_timed: Callable[[], Any] | None = None,
) -> dict[str, Any]:
    """One "speed where people wait" figure: CPU ms of this process per call (time.process_time, the
    steady figure on a loaded machine; on PostgreSQL the server's own CPU is not in it), wall ms beside
    it, the queries of one call (CaptureQueriesContext), and whether the median meets `goal_cpu_ms`."""
    from django.db import connection

    for _ in range(warmup):
        fn()
    # Counted by an execute wrapper, not CaptureQueriesContext: the test client's request_started
    # signal empties the query log that context reads.
    queries = [0]

    def count(execute, sql, params, many, context):
        queries[0] += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        fn()
    if before_timed is not None:
        before_timed()  # e.g. the database server's CPU so far, so its share covers the timed calls only
    cpu, wall = [], []
    for _ in range(repeat):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - t0)
    c, w = summarize(cpu), summarize(wall)
    out: dict[str, Any] = {
        "n": c["n"],
        "cpu_ms_median": c["median_ms"],
        "cpu_ms_p95": c["p95_ms"],
        "wall_ms_median": w["median_ms"],
        "queries": queries[0],
    }
    if goal_cpu_ms is not None:
        out["goal_cpu_ms"] = goal_cpu_ms
        out["meets_goal"] = c["median_ms"] <= goal_cpu_ms
    return out


def db_server_cpu_s() -> float | None:
    """CPU seconds the PostgreSQL server this process is connected to has used so far (its postmaster
    with the backends it reaped, and its live children: shared.postgres_server_cpu_s). None on SQLite or
    without /proc. Take the difference around what is measured: it stays right when Django closes and
    reopens its connection between requests."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return None
    connection.ensure_connection()
    return postgres_server_cpu_s(connection.connection.info.backend_pid)


def log_figure(label: str, f: dict[str, Any]) -> None:
    goal = (
        f" (goal ≤ {f['goal_cpu_ms']} ms: {'met' if f['meets_goal'] else 'NOT met'})"
        if "goal_cpu_ms" in f
        else ""
    )
    log(
        f"  {label}: CPU {f['cpu_ms_median']} ms/call, wall {f['wall_ms_median']} ms, {f['queries']} queries{goal}"
    )


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- database -----------------------------------------------------------------------------------------


def _fresh_pg_database(base_url: str, dbname: str) -> str:
    import psycopg

    with psycopg.connect(base_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{dbname}"')
    parts = urlparse(base_url)
    return urlunparse(parts._replace(path="/" + dbname))


def setup_django(name: str, db: str, url: str | None = None) -> str:
    """Point Django at a fresh database for benchmark `name`, set it up and migrate. Returns the URL.

    With `url`, that (already prepared) database is used instead of a fresh one.
    """
    if url is not None:
        pass
    elif db == "sqlite":
        SCRATCH_DIR.mkdir(parents=True, exist_ok=True)
        path = SCRATCH_DIR / f"{name}.sqlite3"
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        url = f"sqlite:///{path}"
    elif db == "postgresql":
        base = pg_base_url()
        if base is None:
            raise SystemExit("no PostgreSQL: set BENCH_PG_URL (or run through `make bench`)")
        url = _fresh_pg_database(base, f"kesu_bench_{name}")
    else:
        raise SystemExit(f"unknown database {db!r} (sqlite or postgresql)")
    os.environ["KESU_DATABASE_URL"] = url
    os.environ["DJANGO_SETTINGS_MODULE"] = "kesu.settings"
    # Background tasks (notifications) are not part of what is measured: they are not run.
    os.environ.setdefault("KESU_TASKS_BACKEND", "django_tasks.backends.dummy.DummyBackend")
    os.environ.setdefault("KESU_LOG_LEVEL", "ERROR")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    return url


def db_version(db: str) -> str:
    from django.db import connection

    if db == "sqlite":
        import sqlite3

        return f"SQLite {sqlite3.sqlite_version}"
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        return f"PostgreSQL {cursor.fetchone()[0]}"


def machine_info(db: str) -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    import django

    try:
        load = os.getloadavg()
    except OSError:
        load = None
    return {
        "hostname": platform.node(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "django": django.get_version(),
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "memory_gb": mem_gb,
        "database": db_version(db),
        "load_average_at_end": [round(x, 2) for x in load] if load else None,
    }


def write_result(
    name: str,
    db: str,
    *,
    sizes: dict[str, Any],
    results: dict[str, Any],
    baseline: dict[str, Any],
    notes: str | list[str] = "",
    took_s: float | None = None,
) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    doc = {
        "name": name,
        "db": db,
        "scale": SCALE,
        "sizes": sizes,
        "results": results,
        "baseline": baseline,
        "notes": notes,
        "machine": machine_info(db),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "took_s": round(took_s, 1) if took_s is not None else None,
        "peak_rss_mb": peak_rss_mb(),
    }
    path = RESULTS_DIR / f"{name}-{db}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, ensure_ascii=False, indent=2, default=str) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


@dataclass
class BenchContext:
    name: str
    db: str
    url: str
    args: argparse.Namespace
    # with bench_main(dataset=...): the shared data set's statistics (bench/dataset.py)
    dataset: dict[str, Any] | None = None


def bench_main(
    name: str,
    run: Callable[[BenchContext], dict[str, Any]],
    *,
    description: str = "",
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None,
    dataset: dict[str, Any] | None = None,
) -> None:
    """Parse `--db`, set up Django on a fresh database, call `run(ctx)` and write its result.

    `run` returns {"sizes": {...}, "results": {...}, "baseline": {...}, "notes": ...}.
    With `dataset={"total": n, ...}` the database is a copy of the shared synthetic data set
    (`bench/dataset.py`: built once per database kind and parameters, then copied).
    """
    parser = argparse.ArgumentParser(description=description or f"benchmark {name}")
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    if add_arguments:
        add_arguments(parser)
    args = parser.parse_args()
    started = time.perf_counter()
    info = None
    if dataset is not None:
        log(f"{name}: preparing the data set {dataset} on {args.db}")
        prepared, info = prepare(name, args.db, **dataset)
        url = setup_django(name, args.db, prepared)
    else:
        url = setup_django(name, args.db)
    log(f"{name} on {args.db} (scale {SCALE})")
    try:
        out = run(BenchContext(name=name, db=args.db, url=url, args=args, dataset=info))
    except Exception:
        traceback.print_exc()
        raise SystemExit(1)
    path = write_result(
        name,
        args.db,
        sizes=out.get("sizes", {}),
        results=out.get("results", {}),
        baseline=out.get("baseline", {}),
        notes=out.get("notes", ""),
        took_s=time.perf_counter() - started,
    )
    log(f"wrote {path.relative_to(ROOT)}")


# --- data -------------------------------------------------------------------------------------------


def ensure_policy(preset: str = "insurance"):
    """The active policy, loading `preset` when there is none."""
    from kesu.policy.selectors import NoActivePolicy, active_policy
    from kesu.policy.services import load_preset

    try:
        return active_policy()
    except NoActivePolicy:
        return load_preset(preset)


@dataclass
class GenerateStats:
    cases: int
    events: int
    customers: int
    seconds: float

    @property
    def cases_per_second(self) -> float:
        return round(self.cases / self.seconds, 1) if self.seconds else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "cases": self.cases,
            "events": self.events,
            "customers": self.customers,
            "seconds": round(self.seconds, 2),
            "cases_per_second": self.cases_per_second,
        }


_OPEN_WEIGHTS = {
    "registered": 4,
    "accepted": 4,
    "assigned": 12,
    "investigating": 50,
    "pending_approval": 12,
    "responding": 18,
}
_DONE_WEIGHTS = {"closed": 30, "archived": 58, "invalid": 4, "answered": 6, "suspended": 2}


def generate_cases(
    total: int,
    *,
    open_share: float = 0.1,
    seed: int = 1,
    days: int = 365,
    batch: int = 5000,
    events: bool = True,
    repeat_share: float = 0.12,
    now: dt.datetime | None = None,
    progress: bool = True,
) -> GenerateStats:
    """Bulk-insert `total` synthetic cases (and their events) received over the last `days` days.

    The newest `open_share` of them are open (registered … responding), the rest finished (closed,
    archived, invalid, answered, a few suspended). The invariants of `register_case` hold: numbers are
    TS+yyyymmdd+nnnn per registration day without gaps (continuing the DailySequence counters, which are
    advanced), event seq=1 is `register`, the level comes from `kesu.cases.grading.grade` (repeats by
    the same customer on the same category, group size, flags, crisis channels), and `version` equals
    the last event's seq. With `events=False` only the `register` event is written and `version` is 1
    (for benchmarks that only read cases; the timelines are then truncated).

    `due_at` of open cases is a synthetic deadline (received + 3 days) so that overdue filters have
    something to find; the SLA engine is not run. Uses the demo organisation (kesu.cases.demo).
    """
    from django.db import transaction
    from django.db.models import F
    from django.utils import timezone

    from kesu.cases import chain, grading
    from kesu.cases.demo.company import ensure_org
    from kesu.cases.demo.texts import CATEGORY_TEXTS, INQUIRIES
    from kesu.cases.models import Case, CaseEvent, Customer, DailySequence, Kind
    from kesu.policy.models import Category, Channel
    from kesu.policy.selectors import rules_for

    started = time.perf_counter()
    now = now or timezone.now()
    rng = random.Random(seed)
    policy = ensure_policy()
    rules = rules_for(policy)
    org = ensure_org()
    channels = list(Channel.objects.filter(is_active=True))
    channel_weights = [0.3 if c.is_crisis else 8.0 for c in channels]
    categories = {c.code: c for c in Category.objects.filter(code__in=list(CATEGORY_TEXTS))}
    category_codes = [code for code in CATEGORY_TEXTS if code in categories]
    depts = org.departments
    handlers = {code: users for code, users in org.handlers_by_dept.items() if users}
    intake = org.users["intake"]
    from zoneinfo import ZoneInfo

    shanghai = ZoneInfo("Asia/Shanghai")
    sequences = dict(DailySequence.objects.values_list("day", "last"))
    start = now - dt.timedelta(days=days)
    span = (now - start).total_seconds()
    open_from = int(total * (1 - open_share))
    customer_pks: list[int] = []
    # (customer index, category code) → (count, last case pk or None, last received)
    history: dict[tuple[int, str], tuple[int, int | None, dt.datetime]] = {}
    made_cases = made_events = made_customers = 0
    window = dt.timedelta(days=int(rules.grading.get("repeat_window_days", 365)))

    for batch_start in range(0, total, batch):
        n = min(batch, total - batch_start)
        # 1. customers: new ones for most cases, an earlier one for repeats.
        # Customer indexes are global: the k-th new customer of this batch gets len(customer_pks) + k.
        picks: list[int] = []
        new_customers: list[Customer] = []
        first_new = len(customer_pks)
        for _ in range(n):
            known = first_new + len(new_customers)
            if known and rng.random() < repeat_share:
                picks.append(rng.randrange(max(0, known - 20000), known))
            else:
                name = rng.choice("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗") + rng.choice(
                    ["伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "涛", "明"]
                )
                phone = f"1{rng.choice('3578')}{rng.randrange(10**9):09d}"
                new_customers.append(
                    Customer(
                        name=name,
                        name_normalized=name,
                        phone=phone,
                        policy_no=f"P{rng.randrange(10**12):012d}",
                    )
                )
                picks.append(known)
        with transaction.atomic():
            created = Customer.objects.bulk_create(new_customers, batch_size=2000)
            customer_pks.extend(c.pk for c in created)
            made_customers += len(created)

            # 2. cases
            cases: list[Case] = []
            paths: list[list[tuple[str, str]]] = []
            link_later: list[tuple[Case, Case]] = []
            batch_keys: list[tuple[int, str]] = []
            for j in range(n):
                i = batch_start + j
                received = start + dt.timedelta(seconds=(i + rng.random()) * span / total)
                registered = received + dt.timedelta(minutes=5)
                if i >= open_from:
                    status = rng.choices(list(_OPEN_WEIGHTS), weights=list(_OPEN_WEIGHTS.values()))[0]
                else:
                    status = rng.choices(list(_DONE_WEIGHTS), weights=list(_DONE_WEIGHTS.values()))[0]
                channel = rng.choices(channels, weights=channel_weights)[0]
                if status == "answered":
                    kind, text = rng.choice(INQUIRIES)
                    code = None
                else:
                    kind = Kind.COMPLAINT
                    code = rng.choice(category_codes)
                    text = CATEGORY_TEXTS[code]["texts"][0].format(
                        date="3月5日",
                        reason="肺炎",
                        days=20,
                        city="上海",
                        product="华诚百万医疗保险",
                        amount=1200,
                        amount2=5600,
                        disease="甲状腺癌",
                    )
                category = categories.get(code) if code else None
                cust_index = picks[j]
                day = registered.astimezone(shanghai).date()
                sequences[day] = sequences.get(day, 0) + 1
                case = Case(
                    number=f"TS{day:%Y%m%d}{sequences[day]:04d}",
                    customer_id=customer_pks[cust_index],
                    channel=channel,
                    received_at=received,
                    kind=kind,
                    category=category,
                    description=text,
                    people_count=rng.choice([5, 8, 12]) if rng.random() < 0.01 else 1,
                    region=rng.choice(["华东", "华南", "华北"]),
                    policy=policy,
                    status=status,
                    created_by=intake,
                    first_responder=intake,
                    flag_injury=rng.random() < 0.005,
                )
                if code:
                    # The latest earlier case of this customer on this category: its pk, or the
                    # unsaved object when it is in this batch (linked after the insert).
                    count, last, last_at = history.get((cust_index, code), (0, None, received))
                    if count and received - last_at > window:
                        count = 0
                    case.repeat_count = count + 1
                    if count and isinstance(last, int):
                        case.repeat_of_id = last
                    elif count:
                        link_later.append((case, last))
                    history[(cust_index, code)] = (case.repeat_count, case, received)
                    batch_keys.append((cust_index, code))
                case.level, case.level_reasons = grading.grade(
                    case, rules, channel_is_crisis=channel.is_crisis
                )
                path = EVENT_PATHS[status]
                case.version = 1 + (len(path) if events else 0)
                if status not in ("registered", "invalid", "answered"):
                    dept_code = (category.department_code if category else "") or "SERVICE"
                    case.department = depts.get(dept_code) or depts["SERVICE"]
                    case.is_valid = True
                    if status != "accepted":
                        pool = handlers.get(case.department.code) or handlers["SERVICE"]
                        case.handler = pool[i % len(pool)]
                if status in ("closed", "archived"):
                    case.replied_at = received + dt.timedelta(days=2)
                    case.closed_at = received + dt.timedelta(days=2, hours=2)
                    case.closing_criterion = "accepted"
                    if status == "archived":
                        case.satisfaction = rng.choice([3, 4, 5, 5])
                        case.archived_at = received + dt.timedelta(days=40)
                elif status == "invalid":
                    case.is_valid, case.invalid_reason, case.closing_criterion = (
                        False,
                        "not_specific",
                        "invalid",
                    )
                    case.closed_at = received + dt.timedelta(hours=1)
                elif status == "answered":
                    case.is_valid, case.closing_criterion = True, "answered"
                    case.replied_at = case.closed_at = received + dt.timedelta(minutes=10)
                elif status == "suspended":
                    case.status_before_suspension = "investigating"
                    case.suspended_at = case.last_contact_at = received + dt.timedelta(days=1)
                else:
                    case.due_at = received + dt.timedelta(days=3)  # synthetic, see the docstring
                cases.append(case)
                paths.append(path)
            Case.objects.bulk_create(cases, batch_size=1000)
            ids = [c.pk for c in cases]
            Case.objects.filter(pk__gte=min(ids), pk__lte=max(ids)).update(
                registered_at=F("received_at") + dt.timedelta(minutes=5)
            )
            # Repeats of a case in the same batch: link them now that the earlier case has its pk.
            for c, earlier in link_later:
                c.repeat_of_id = earlier.pk
            if link_later:
                Case.objects.bulk_update([c for c, _e in link_later], ["repeat_of"], batch_size=500)
            for key in batch_keys:
                count, obj, at = history[key]
                if not isinstance(obj, int):
                    history[key] = (count, obj.pk, at)

            # 3. events
            rows: list[CaseEvent] = []
            for c, path in zip(cases, paths, strict=True):
                t = c.received_at + dt.timedelta(minutes=5)
                # Chained like every timeline (kesu.cases.chain), so `kesu audit verify` holds here too.
                head = chain.seal(
                    CaseEvent(
                        case_id=c.pk,
                        seq=1,
                        actor=intake,
                        action="register",
                        from_status="",
                        to_status="registered",
                        created_at=t,
                        is_public=True,
                        payload={
                            "channel": c.channel.code,
                            "kind": c.kind,
                            "level": c.level,
                            "generated": True,
                        },
                    ),
                    chain.GENESIS,
                )
                rows.append(head)
                if not events:
                    continue
                previous = "registered"
                for k, (action, to_status) in enumerate(path, start=2):
                    t = t + dt.timedelta(hours=3 + k)
                    head = chain.seal(
                        CaseEvent(
                            case_id=c.pk,
                            seq=k,
                            actor_id=c.handler_id if k > 3 and c.handler_id else intake.pk,
                            action=action,
                            from_status=previous,
                            to_status=to_status,
                            created_at=t,
                            payload={"generated": True},
                        ),
                        head.hash,
                    )
                    rows.append(head)
                    previous = to_status
            CaseEvent.objects.bulk_create(rows, batch_size=5000)
            made_cases += len(cases)
            made_events += len(rows)
        if progress:
            log(f"  generated {made_cases}/{total} cases, {made_events} events")

    # Advance the per-day counters so that later registrations continue the numbering.
    with transaction.atomic():
        existing = set(DailySequence.objects.filter(day__in=list(sequences)).values_list("day", flat=True))
        DailySequence.objects.bulk_create(
            [DailySequence(day=d, last=v) for d, v in sequences.items() if d not in existing], batch_size=2000
        )
        for d in existing:
            DailySequence.objects.filter(day=d).update(last=sequences[d])
    _analyze()
    return GenerateStats(made_cases, made_events, made_customers, time.perf_counter() - started)


def _analyze() -> None:
    """Refresh the planner's statistics after a bulk load (as a DBA would)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
