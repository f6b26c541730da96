"""Deadline engine benchmarks: deadline computations per second, and a sweep over 1M cases (100k open).

    .venv/bin/python bench/bench_sla.py                  # 1M cases / 100k open (SQLite; PostgreSQL with KESU_PG_URL)
    BENCH_SCALE=small .venv/bin/python bench/bench_sla.py  # 20k cases / 2k open, quick
    scripts/pg_cluster.sh .venv/bin/python bench/bench_sla.py   # also on a throwaway PostgreSQL

Data are bulk-generated (cases, one stage-deadline row per case: open cases an open answer deadline
computed with the real calendar, finished cases a met one); 1 % of the open deadlines are past due and
2 % inside their warning window at sweep time. Each sweep runs in a fresh subprocess, so its peak memory
(ru_maxrss) is the sweep's own. Measured: a backlog sweep (warnings, breaches, escalation events through
`perform`, accountability), then the same sweep again (idempotent: nothing to do; the steady-state cost).
Writes `bench/results/sla.json`.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
sys.path.insert(0, str(ROOT))

SMALL = os.environ.get("BENCH_SCALE") == "small"
CASES, OPEN = (20_000, 2_000) if SMALL else (1_000_000, 100_000)
NOW = "2026-11-23T10:00:00+08:00"


def _django(db_url: str) -> None:
    os.environ["KESU_DATABASE_URL"] = db_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kesu.settings")
    import django

    django.setup()


# --- deadline computations per second (no database) -------------------------------------------------


def bench_deadlines(n: int) -> dict:
    import chinese_calendar as cc

    from kesu.sla.calendar import SHANGHAI, DayInfo, Duration, WorkCalendar

    exc = {d: DayInfo(d, False, "holiday", str(v)) for d, v in cc.holidays.items()}
    exc.update({d: DayInfo(d, True, "adjusted_workday", str(v)) for d, v in cc.workdays.items()})
    cal = WorkCalendar(exc, set(range(2004, 2027)))
    rnd = random.Random(1)
    base = dt.datetime(2024, 1, 1, tzinfo=SHANGHAI)
    starts = [base + dt.timedelta(minutes=rnd.randrange(0, 2 * 365 * 24 * 60)) for _ in range(n)]
    out = {}
    for unit, amount in (("working_days", 15), ("working_hours", 16), ("calendar_days", 30)):
        d = Duration(amount, unit)
        runs = []
        for _ in range(5):
            t = time.perf_counter()
            for s in starts:
                cal.deadline(s, d)
            runs.append(n / (time.perf_counter() - t))
        out[f"{amount} {unit}"] = {"per_second_median": round(statistics.median(runs)), "runs": 5, "n": n}
    # baseline measured in the same run: naive timedelta (what ad-hoc code would do)
    t = time.perf_counter()
    for s in starts:
        s + dt.timedelta(days=15)
    out["baseline timedelta"] = {"per_second": round(n / (time.perf_counter() - t))}
    return out


# --- data generation (subprocess) ---------------------------------------------------------------------


def generate(db_url: str, cases: int, open_cases: int) -> dict:
    _django(db_url)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from kesu.cases.models import Case
    from kesu.policy.models import Channel, Policy
    from kesu.policy.selectors import active_rules
    from kesu.policy.services import load_preset
    from kesu.sla.calendar import get_calendar, parse_instant
    from kesu.sla.models import StageDeadline
    from kesu.sla.services import next_check
    from tests import factories

    t0 = time.perf_counter()
    factories.org()
    if not Policy.objects.exists():
        load_preset("general")
    rules = active_rules()
    policy = Policy.objects.get(is_active=True) if hasattr(Policy, "is_active") else Policy.objects.first()
    channel = Channel.objects.get(code="phone")
    cal = get_calendar(None, rules)
    now = parse_instant(NOW)
    rnd = random.Random(7)
    due_cache: dict = {}
    chunk = 5000
    made = 0
    while made < cases:
        n = min(chunk, cases - made)
        batch = []
        for i in range(made, made + n):
            is_open = i % (cases // open_cases) == 0
            if is_open:
                r = rnd.random()
                # 1 % past due, 2 % in the warning window, the rest running
                days_ago = 12 if r < 0.01 else (3 if r < 0.03 else rnd.choice([0, 1]))
                received = now - dt.timedelta(days=days_ago, minutes=rnd.randrange(0, 600))
                status = "investigating"
            else:
                received = now - dt.timedelta(days=rnd.randrange(20, 730), minutes=rnd.randrange(0, 1440))
                status = "closed"
            batch.append(
                Case(
                    number=f"B{i:09d}",
                    channel=channel,
                    policy=policy,
                    received_at=received,
                    description="基准测试案件",
                    status=status,
                    kind="complaint",
                )
            )
        Case.objects.bulk_create(batch, batch_size=chunk)
        ids = dict(Case.objects.filter(number__in=[c.number for c in batch]).values_list("number", "pk"))
        rows = []
        for c in batch:
            key = c.received_at.replace(second=0, microsecond=0)
            if key not in due_cache:
                d = cal.add_working_days(c.received_at, 3).due
                due_cache[key] = (d, cal.warn_at("working_days", c.received_at, d, 0.8))
            due, warn = due_cache[key]
            s = StageDeadline(
                case_id=ids[c.number],
                stage="answer",
                starts_at=c.received_at,
                amount=3,
                unit="working_days",
                base_due_at=due,
                due_at=due,
                warn_at=warn,
                state="open" if c.status != "closed" else "met",
                met_at=None if c.status != "closed" else due - dt.timedelta(days=1),
            )
            s.next_check_at = next_check(s, rules, cal)
            rows.append(s)
        StageDeadline.objects.bulk_create(rows, batch_size=chunk)
        made += n
    return {"cases": cases, "open": open_cases, "generate_seconds": round(time.perf_counter() - t0, 1)}


def run_sweep(db_url: str) -> dict:
    _django(db_url)
    from kesu.sla.calendar import parse_instant
    from kesu.sla.sweeper import sweep

    t = time.perf_counter()
    r = sweep(parse_instant(NOW))
    seconds = time.perf_counter() - t
    return {
        "seconds": round(seconds, 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        **{k: v for k, v in r.as_dict().items() if k != "errors"},
        "errors": len(r.errors),
    }


def _sub(phase: str, db_url: str) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--phase", phase, db_url],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "KESU_TASKS_BACKEND": "django_tasks.backends.dummy.DummyBackend"},
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_db(name: str, db_url: str) -> dict:
    gen = _sub("generate", db_url)
    first = _sub("sweep", db_url)
    second = _sub("sweep", db_url)
    return {"database": name, **gen, "backlog_sweep": first, "repeat_sweep": second}


def _pg_database(base_url: str) -> str:
    import psycopg

    with psycopg.connect(base_url, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS kesu_bench_sla")
        conn.execute("CREATE DATABASE kesu_bench_sla")
    return base_url.rsplit("/", 1)[0] + "/kesu_bench_sla"


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--phase":
        phase, db_url = sys.argv[2], sys.argv[3]
        result = generate(db_url, CASES, OPEN) if phase == "generate" else run_sweep(db_url)
        print(json.dumps(result))
        return
    result = {
        "name": "sla",
        "scale": "small" if SMALL else "full",
        "deadline_computations": bench_deadlines(2_000 if SMALL else 20_000),
        "sweeps": [],
    }
    print(json.dumps(result["deadline_computations"], ensure_ascii=False), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        result["sweeps"].append(bench_db("sqlite", f"sqlite:///{tmp}/bench_sla.sqlite3"))
        print(json.dumps(result["sweeps"][-1]), flush=True)
    pg = os.environ.get("KESU_PG_URL")
    if pg:
        result["sweeps"].append(bench_db("postgresql", _pg_database(pg)))
        print(json.dumps(result["sweeps"][-1]), flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = "sla-small.json" if SMALL else "sla.json"
    (RESULTS / name).write_text(json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8")
    print(f"wrote bench/results/{name}")


if __name__ == "__main__":
    main()
