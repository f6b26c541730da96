"""Issue 19, "speed where people wait": every figure beside its goal, SQLite and PostgreSQL, one JSON.

    .venv/bin/python bench/speed19.py                              # SQLite (+ PostgreSQL if KESU_PG_URL is set)
    scripts/pg_cluster.sh .venv/bin/python bench/speed19.py        # both databases (what `make bench` does)
    BENCH_SCALE=small .venv/bin/python bench/speed19.py            # 5k cases: a quick check
    scripts/pg_cluster.sh .venv/bin/python bench/speed19.py --db postgresql --large-total 1000000
    .venv/bin/python bench/speed19.py --readme [bench/results/speed19.json]   # the README table

For each database a fresh process copies the shared data set (bench/dataset.py, built once per size and
database, then copied): `--total` cases (100k; small: 5k) received over the last 365 days, 30 % open,
the duel's shape, with the analytics rollups. It then measures, as the duel requests them (supervisor
for reads, the intake clerk for writes, the manager for the analytics page; Django's test client, full
middleware stack, no web server):

* reads first: API open queue, HTML open queue, the other queues, case page, board, analytics page;
* then writes on top: create through the API, the batch endpoint, `perform` (accept, add_note);
* the first sweep, in its own process, over a second data set of `--total` cases that are all open
  (100k open: at the data set's NOW ~7 % are due for a warning or a breach).

Each figure is CPU ms per request of the Django process (time.process_time, median), plus on
PostgreSQL the database server's CPU (postmaster and backends from /proc, mean per request), the
queries of one request, the goal and whether it is met. CPU rather than wall time: the machine is
shared, wall time moves with the load (recorded before and after each part). With `--large-total`
(PostgreSQL; 1M) the queues and the case page are measured again at that size and set against the
first size (goal: within 1.5x). The load check's figures (bench/bench_load.py, production shape on
PostgreSQL) are read from bench/results/load-postgresql.json when present (`--load` runs it first).

The result goes to bench/results/speed19.json (`--out`); the README table is generated from it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from shared import RESULTS_DIR, ROOT, SCALE, pg_base_url  # noqa: E402

DEFAULT_OUT = RESULTS_DIR / "speed19.json"
DAYS = 365
OPEN_SHARE = 0.3  # the duel's shape (django-helpdesk's seed leaves ~31 % open)
SEED = 19
BATCH_ITEMS = 100
LARGE_RATIO_GOAL = 1.5
LOAD_GOAL_RPS = 200.0
LOAD_GOAL_P95_MS = 300.0

# key → (label, goal, unit). CPU goals are "≤ goal ms"; the batch goal is "≥ goal cases per CPU-second";
# the sweep goal is "< goal CPU seconds". None: recorded, no goal of its own.
FIGURES: dict[str, tuple[str, float | None, str]] = {
    "create_api": ("create `POST /api/v1/cases`", 6.0, "ms"),
    "batch": ("batch `POST /api/v1/intake/batch`", 1000.0, "cases/s"),
    "perform_accept": ("`perform`: accept", 8.0, "ms"),
    "perform_add_note": ("`perform`: add_note", 8.0, "ms"),
    "api_open_queue": ("API open queue `GET /api/v1/cases?open_only=true&limit=25`", 10.0, "ms"),
    "queue_html": ("HTML open queue `/cases/?status=…` (six open statuses)", 15.0, "ms"),
    "case_page": ("case page `/cases/<number>/`", 15.0, "ms"),
    # The page's 相似已结案件 panel, fetched by the page after it is shown (htmx): its own request.
    "case_similar": (
        "case page's similar-cases panel `/cases/<number>/similar/` (loaded after it)",
        None,
        "ms",
    ),
    "board": ("supervisor board `/board/` (as served: 30 s aggregate cache)", 30.0, "ms"),
    "board_uncached": ("supervisor board, aggregates computed on every request", None, "ms"),
    "analytics_page": ("analytics page `/analytics/` (manager, last 12 months)", 100.0, "ms"),
    "analytics_page_recomputed": (
        "analytics page after a case event (a note on an open case before each request)",
        100.0,
        "ms",
    ),
    "sweep": ("first sweep, all open cases (CPU s)", 10.0, "s"),
}
# The queues of the 1M comparison (with api_open_queue, queue_html and case_page).
QUEUES = {
    "queue_unassigned": ("supervisor", "/queues/unassigned/"),
    "queue_approvals": ("supervisor", "/queues/approvals/"),
    "queue_overdue": ("supervisor", "/cases/?overdue=1&sort=due"),
    "queue_mine": ("handler", "/queues/mine/"),
    "queue_department": ("handler", "/queues/department/"),
}
LARGE_KEYS = ["api_open_queue", "queue_html", *QUEUES, "case_page", "case_similar"]


def default_total() -> int:
    from common import size

    return size(100_000, 5_000)


# --- the measuring process (one per database and part) -----------------------------------------------


def _figure(fn, *, repeat: int, goal: float | None = None, warmup: int = 1) -> dict[str, Any]:
    """common.cpu_figure plus, on PostgreSQL, the database server's CPU per call: its mean over the timed
    calls only (the warm-up may be a cold computation that costs the server many times a request, and
    the counted call runs with a query counter); `cpu_ms` = process median + server mean."""
    from common import cpu_figure, db_server_cpu_s

    start: list[float | None] = []
    f = cpu_figure(fn, repeat=repeat, warmup=warmup, before_timed=lambda: start.append(db_server_cpu_s()))
    d0, d1 = start[0], db_server_cpu_s()
    total = f["cpu_ms_median"]
    if d0 is not None and d1 is not None:
        f["db_cpu_ms_mean"] = round((d1 - d0) * 1000 / repeat, 2)
        total += f["db_cpu_ms_mean"]
    f["cpu_ms"] = round(total, 2)
    if goal is not None:
        f["goal_cpu_ms"] = goal
        f["meets_goal"] = f["cpu_ms"] <= goal
    return f


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _setup(name: str, db: str, total: int, open_share: float) -> dict[str, Any]:
    from common import setup_django
    from dataset import prepare

    url, info = prepare(name, db, total, days=DAYS, open_share=open_share, seed=SEED)
    setup_django(name, db, url)
    return {"url": url, **info}


def measure_pages(db: str, total: int, *, writes: bool) -> dict[str, Any]:
    """Reads (queues, case page, board, analytics page) and, with `writes`, create/batch/perform."""
    started, load_before = time.perf_counter(), _load()
    info = _setup("speed19" if writes else "speed19_large", db, total, OPEN_SHARE)
    from bench_analytics import _analyze_after_bulk_write
    from bench_core import complaint_body
    from bench_web import DUEL_QUEUE
    from common import log, log_figure, size
    from django.core.cache import cache
    from django.test import Client

    from kesu.analytics.rollups import rebuild_close_times
    from kesu.cases.demo.company import ensure_org
    from kesu.cases.models import OPEN_STATUSES, Case
    from kesu.org.models import ApiToken

    rebuild_close_times()  # kept by the transition service; the raw-SQL data set bypassed it
    _analyze_after_bulk_write("analytics_caseclosetime")
    org = ensure_org()
    users = {k: org.users[k] for k in ("supervisor", "handler", "manager", "intake")}
    clients = {}
    for who, user in users.items():
        c = Client()
        c.force_login(user)
        clients[who] = c
    # The API is called as the duel and an integration call it: a bearer token and no session cookie (a
    # request with the cookie also pays the session's idle-timeout check, kesu.trust.security).
    api_client = Client()
    _t, sup_key = ApiToken.issue(users["supervisor"], "speed19 reads", scopes=["*"])
    _t, intake_key = ApiToken.issue(users["intake"], "speed19 writes", scopes=["*"])
    repeat = size(20, 8)
    figures: dict[str, Any] = {}

    def _ok(r) -> None:
        assert r.status_code == 200, (r.request["PATH_INFO"], r.status_code)

    def get(who: str, url: str, **headers: str) -> None:
        r = clients[who].get(url, **headers)
        assert r.status_code == 200, (who, url, r.status_code)

    only = [k for k in os.environ.get("SPEED19_ONLY", "").split(",") if k]

    def record(key: str, fn, **kw: Any) -> None:
        if only and key not in only:
            return
        figures[key] = _figure(fn, goal=FIGURES.get(key, ("", None, ""))[1], **kw)
        log_figure(key, figures[key])

    log(f"reads on {db} at {total} cases")
    record(
        "api_open_queue",
        lambda: _ok(
            api_client.get("/api/v1/cases?open_only=true&limit=25", HTTP_AUTHORIZATION=f"Bearer {sup_key}")
        ),
        repeat=repeat,
    )
    record("queue_html", lambda: get("supervisor", DUEL_QUEUE), repeat=repeat)
    for key, (who, url) in QUEUES.items():
        record(key, lambda who=who, url=url: get(who, url), repeat=repeat)
    numbers = list(
        Case.objects.filter(status__in=OPEN_STATUSES)
        .order_by("-received_at")
        .values_list("number", flat=True)[:200]
    )
    rotation = iter(numbers * 100)
    record("case_page", lambda: get("supervisor", f"/cases/{next(rotation)}/"), repeat=repeat)
    rotation = iter(numbers * 100)  # the same cases' panels, as their pages ask for them
    record("case_similar", lambda: get("supervisor", f"/cases/{next(rotation)}/similar/"), repeat=repeat)
    if writes:
        record("board", lambda: get("supervisor", "/board/"), repeat=repeat)

        def board_uncached() -> None:
            cache.clear()
            get("supervisor", "/board/")

        record("board_uncached", board_uncached, repeat=repeat)
        record("analytics_page", lambda: get("manager", "/analytics/"), repeat=size(5, 3))
        if not only or "analytics_page_recomputed" in only:
            figures["analytics_page_recomputed"] = analytics_page_recomputed(
                users, lambda: get("manager", "/analytics/"), repeat=size(7, 3)
            )
            log_figure("analytics_page_recomputed", figures["analytics_page_recomputed"])

    if writes and (
        not only or any(k in only for k in ("create_api", "batch", "perform_accept", "perform_add_note"))
    ):
        import itertools
        import uuid

        from kesu.cases.services import perform, register_case

        log(f"writes on {db}")
        counter = itertools.count(1)
        auth = {"HTTP_AUTHORIZATION": f"Bearer {intake_key}"}

        def create() -> None:
            r = api_client.post(
                "/api/v1/cases",
                data=json.dumps(complaint_body(next(counter)), ensure_ascii=False),
                content_type="application/json",
                HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
                **auth,
            )
            assert r.status_code == 201, (r.status_code, r.content[:300])

        record("create_api", create, repeat=repeat)

        def batch() -> None:
            body = {"items": [complaint_body(next(counter)) for _ in range(BATCH_ITEMS)]}
            r = api_client.post(
                "/api/v1/intake/batch",
                data=json.dumps(body, ensure_ascii=False),
                content_type="application/json",
                **auth,
            )
            assert r.status_code == 200, (r.status_code, r.content[:300])

        f = _figure(batch, repeat=size(6, 2), warmup=1)
        f["items_per_request"] = BATCH_ITEMS
        f["cases_per_cpu_second"] = round(BATCH_ITEMS / (f["cpu_ms"] / 1000), 1)
        f["queries_per_case"] = round(f["queries"] / BATCH_ITEMS, 1)
        f["goal_cases_per_second"] = FIGURES["batch"][1]
        f["meets_goal"] = f["cases_per_cpu_second"] >= FIGURES["batch"][1]
        figures["batch"] = f
        log(
            f"  batch: {f['cases_per_cpu_second']} cases per CPU-second, {f['queries_per_case']} queries per case"
        )

        intake = users["intake"]
        pending = [
            register_case(actor=intake, data=complaint_body(next(counter))).case.pk for _ in range(repeat + 2)
        ]
        record("perform_accept", lambda: perform(pending.pop(), "accept", intake), repeat=repeat)
        handler = users["handler"]
        mine = list(
            Case.objects.filter(handler=handler, status="investigating").values_list("pk", flat=True)[:50]
        )
        notes = iter(mine * 100)
        record(
            "perform_add_note",
            lambda: perform(next(notes), "add_note", handler, text="已电话联系客户，说明理赔进度。"),
            repeat=repeat,
        )
    return {
        "cases_at_start": total,
        "cases_at_end": Case.objects.count(),
        "open_cases": Case.objects.filter(status__in=OPEN_STATUSES).count(),
        "dataset": {k: v for k, v in info.items() if k != "url"},
        "figures": figures,
        "repeat": repeat,
        "load_before": load_before,
        "load_after": _load(),
        "took_s": round(time.perf_counter() - started, 1),
    }


def analytics_page_recomputed(users: dict, page, *, repeat: int) -> dict[str, Any]:
    """The analytics page after its cached figures were invalidated by a case event: before each request
    the supervisor adds a note through `perform` to an open case drawn at random (seeded), as the desk
    does all day (untimed, its queries not counted); the request that then recomputes the page is timed
    as every other figure is (process CPU median, plus on PostgreSQL the server's CPU of the requests)."""
    import random
    import statistics

    from common import db_server_cpu_s
    from django.db import connection

    from kesu.cases.models import OPEN_STATUSES, Case
    from kesu.cases.services import perform

    ids = sorted(Case.objects.filter(status__in=OPEN_STATUSES).values_list("pk", flat=True))
    random.Random(SEED).shuffle(ids)
    rotation = iter(ids * 2)

    def event() -> None:
        perform(next(rotation), "add_note", users["supervisor"], text="已电话联系客户，说明处理进度。")

    event()
    page()  # warm-up
    queries = [0]

    def count(execute, sql, params, many, context):
        queries[0] += 1
        return execute(sql, params, many, context)

    event()
    with connection.execute_wrapper(count):
        page()
    cpu, wall, server = [], [], []
    for _ in range(repeat):
        event()
        d0, c0, t0 = db_server_cpu_s(), time.process_time(), time.perf_counter()
        page()
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - t0)
        d1 = db_server_cpu_s()
        if d0 is not None and d1 is not None:
            server.append(d1 - d0)
    f: dict[str, Any] = {
        "n": repeat,
        "cpu_ms_median": round(statistics.median(cpu) * 1000, 3),
        "wall_ms_median": round(statistics.median(wall) * 1000, 3),
        "queries": queries[0],
    }
    total = f["cpu_ms_median"]
    if server:
        f["db_cpu_ms_mean"] = round(statistics.fmean(server) * 1000, 2)
        total += f["db_cpu_ms_mean"]
    f["cpu_ms"] = round(total, 2)
    goal = FIGURES["analytics_page_recomputed"][1]
    f["goal_cpu_ms"] = goal
    f["meets_goal"] = f["cpu_ms"] <= goal
    return f


def measure_sweep(db: str, total: int) -> dict[str, Any]:
    """The first sweep over `total` open cases (bench_sla.run_sweep in a fresh process: its own memory)."""
    started, load_before = time.perf_counter(), _load()
    info = _setup("speed19_sweep", db, total, 1.0)
    from bench_sla import _state_counts, _sub
    from dataset import NOW
    from django.db import connection

    before = _state_counts()
    connection.close()
    r = _sub("sweep", info["url"], NOW.isoformat())
    cpu = r["cpu_seconds"] + (r.get("db_cpu_seconds") or 0)
    goal = FIGURES["sweep"][1]
    return {
        "dataset": {k: v for k, v in info.items() if k != "url"},
        "open_deadlines_before": before,
        "figures": {
            "sweep": {
                **r,
                "cpu_s": round(cpu, 2),
                "goal_cpu_s": goal,
                "meets_goal": cpu < goal,
                "queries_per_escalation": round(r["queries"] / r["escalations"], 2)
                if r.get("escalations")
                else None,
            }
        },
        "load_before": load_before,
        "load_after": _load(),
        "took_s": round(time.perf_counter() - started, 1),
    }


# --- the driver ------------------------------------------------------------------------------------------


def _child(part: str, db: str, total: int) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__)), "--phase", part, "--db", db, "--total", str(total)]
    env = {**os.environ, "KESU_TASKS_BACKEND": "django_tasks.backends.dummy.DummyBackend"}
    out = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, cwd=ROOT, env=env)
    if out.returncode != 0:
        return {"error": f"{part} on {db} exited {out.returncode} (see the log above)"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    except OSError:
        return ""


def _machine() -> dict[str, Any]:
    import platform

    cpu = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return {"cpus": os.cpu_count(), "cpu": cpu, "python": platform.python_version()}


def _log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def run(args: argparse.Namespace) -> dict[str, Any]:
    started = time.perf_counter()
    dbs = args.db or ["sqlite", "postgresql"]
    notes: list[str] = []
    if "postgresql" in dbs and pg_base_url() is None:
        dbs = [d for d in dbs if d != "postgresql"]
        notes.append("PostgreSQL skipped: no cluster (run through scripts/pg_cluster.sh or `make bench`)")
        _log(notes[-1])
    total = args.total or default_total()
    doc: dict[str, Any] = {
        "name": "speed19",
        "label": args.label or _git("rev-parse", "--abbrev-ref", "HEAD"),
        "commit": _git("rev-parse", "--short", "HEAD"),
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "scale": SCALE,
        "total": total,
        "large_total": args.large_total or None,
        "machine": _machine(),
        "databases": {},
        "notes": notes,
    }
    for db in dbs:
        _log(f"=== {db}: pages and writes at {total} cases ===")
        part = _child("pages", db, total)
        if not args.no_sweep:
            _log(f"=== {db}: first sweep over {total} open cases ===")
            sweep = _child("sweep", db, total)
            part.setdefault("figures", {}).update(sweep.get("figures", {}))
            part["sweep"] = {k: v for k, v in sweep.items() if k != "figures"}
        if args.large_total and db == "postgresql":
            _log(f"=== {db}: queues and case page at {args.large_total} cases ===")
            large = _child("large", db, args.large_total)
            part["large"] = large
            for key in LARGE_KEYS:
                small_f, big_f = part.get("figures", {}).get(key), large.get("figures", {}).get(key)
                if small_f and big_f:
                    ratio = round(big_f["cpu_ms"] / small_f["cpu_ms"], 2)
                    big_f["ratio_to_total"] = ratio
                    big_f["meets_ratio_goal"] = ratio <= LARGE_RATIO_GOAL
        doc["databases"][db] = part
        _write(args.out, {**doc, "partial": True})  # a run cut short keeps what it measured
    load = RESULTS_DIR / "load-postgresql.json"
    if args.load:
        _log("=== the no-loss load check on PostgreSQL (bench/bench_load.py) ===")
        subprocess.run([sys.executable, str(HERE / "bench_load.py"), "--db", "postgresql"], cwd=ROOT)
    if load.exists():
        doc["load_check"] = load_check_summary(json.loads(load.read_text()))
    doc["took_s"] = round(time.perf_counter() - started, 1)
    return doc


def _server_text(server: Any) -> str:
    if isinstance(server, dict):
        return f"{server.get('kind', 'gunicorn')} {server.get('workers')}×{server.get('threads')}"
    return str(server or "")


def load_check_summary(load: dict[str, Any]) -> dict[str, Any]:
    r = load.get("results", {})
    lat = r.get("latency_ms", {})
    rps = r.get("throughput_rps") or 0
    p95 = lat.get("p95_ms") or 0
    return {
        "date": load.get("date"),
        "db": load.get("db"),
        "requests": load.get("sizes", {}).get("requests"),
        "server": _server_text(load.get("sizes", {}).get("server")),
        "throughput_rps": rps,
        "p50_ms": lat.get("p50_ms"),
        "p95_ms": p95,
        "server_cpu_ms_per_request": r.get("server_cpu_ms_per_request"),
        "load_average": r.get("load_average"),
        "nothing_lost": bool(r.get("verification", {}).get("ok")),
        "goal": f"≥ {LOAD_GOAL_RPS:g} requests/s, p95 < {LOAD_GOAL_P95_MS:g} ms, nothing lost",
        "meets_goal": rps >= LOAD_GOAL_RPS
        and p95 < LOAD_GOAL_P95_MS
        and bool(r.get("verification", {}).get("ok")),
    }


# --- the README table ------------------------------------------------------------------------------------


def _goal_text(key: str) -> str:
    _label, goal, unit = FIGURES[key]
    if goal is None:
        return "—"
    if unit == "cases/s":
        return f"≥ {goal:,.0f} cases/s"
    if unit == "s":
        return f"< {goal:g} s"
    return f"≤ {goal:g} ms"


def _cell(db_part: dict[str, Any] | None, key: str) -> str:
    f = (db_part or {}).get("figures", {}).get(key)
    if not f:
        return "—"
    met = "" if "meets_goal" not in f else (" ✓" if f["meets_goal"] else " ✗")
    if key == "batch":
        return f"{f['cases_per_cpu_second']:,.0f} cases/CPU-s ({f['queries_per_case']} q/case){met}"
    if key == "sweep":
        db = f" + db {f['db_cpu_seconds']:.1f}" if f.get("db_cpu_seconds") is not None else ""
        per_row = round(f["queries"] / f["examined"], 1) if f.get("examined") else "—"
        return (
            f"{f['cpu_seconds']:.1f}{db} CPU s ({f['seconds']:.0f} s wall), {f.get('examined', 0):,} due, "
            f"{f['escalations']:,} escalations, {per_row} q per due row, {f['peak_rss_mb']:.0f} MB{met}"
        )
    db = f" (db {f['db_cpu_ms_mean']:g})" if "db_cpu_ms_mean" in f else ""
    return f"{f['cpu_ms']:g}{db} [{f['queries']} q]{met}"


def readme_table(doc: dict[str, Any]) -> str:
    dbs = doc.get("databases", {})
    sq, pg = dbs.get("sqlite"), dbs.get("postgresql")
    lines = [
        f"Measured {doc['date']} at commit `{doc.get('commit', '')}` ({doc.get('label', '')}), "
        f"{doc['total']:,} cases (30 % open, 365 days; the sweep: {doc['total']:,} open cases); "
        f"`bench/results/speed19.json`. CPU ms per request: the Django process's median, on PostgreSQL plus the "
        "database server's mean over the timed requests (that share in brackets); [queries per request]; ✓ goal met, ✗ not met.",
        "",
        "| figure | goal | SQLite | PostgreSQL |",
        "|---|---|---|---|",
    ]
    for key, (label, _goal, _unit) in FIGURES.items():
        if key in QUEUES:
            continue
        lines.append(f"| {label} | {_goal_text(key)} | {_cell(sq, key)} | {_cell(pg, key)} |")
    large = (pg or {}).get("large")
    if large and large.get("figures"):
        parts = []
        for key in LARGE_KEYS:
            f = large["figures"].get(key)
            if f and "ratio_to_total" in f:
                parts.append(f"{key} {f['ratio_to_total']}×{' ✓' if f['meets_ratio_goal'] else ' ✗'}")
        lines.append(
            f"| every queue and the case page at {large.get('cases_at_start', 0):,} cases against "
            f"{doc['total']:,} (PostgreSQL) | ≤ {LARGE_RATIO_GOAL}× | — | {'; '.join(parts)} |"
        )
    else:
        why = "stopped before it finished" if large and large.get("error") else "not run"
        lines.append(
            f"| every queue and the case page at 1M cases against {doc['total']:,} (PostgreSQL) | "
            f"≤ {LARGE_RATIO_GOAL}× | — | {why} (`--large-total 1000000`) |"
        )
    lc = doc.get("load_check")
    if lc:
        cpu = (
            f", {lc['server_cpu_ms_per_request']} server CPU ms/request"
            if lc.get("server_cpu_ms_per_request") is not None
            else ""
        )
        la = lc.get("load_average")
        if la and isinstance(la[0], list):  # [before, after], each the 1/5/15-minute averages
            la = f"{la[0][0]:g} → {la[1][0]:g}"
        load = f", load average {la}" if la else ""
        lines.append(
            f"| no-loss load check, production shape ({lc.get('server') or 'gunicorn'}), {lc['requests']} mixed "
            f"requests | {lc['goal']} | — | {lc['throughput_rps']} requests/s, p50 {lc['p50_ms']} ms, "
            f"p95 {lc['p95_ms']} ms{cpu}{load}, "
            f"{'nothing lost' if lc['nothing_lost'] else 'LOSS'}{' ✓' if lc['meets_goal'] else ' ✗'} |"
        )
    lines.append("")
    lines.append(
        "Other queues (no goal of their own at 100k; they enter the 1M comparison): "
        + "; ".join(f"{key} {_cell(sq, key)} / {_cell(pg, key)}" for key in QUEUES if (sq or pg))
        + " (SQLite / PostgreSQL)."
    )
    return "\n".join(lines)


def _write(path: Path, doc: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, ensure_ascii=False, indent=2, default=str) + "\n", encoding="utf-8")
    tmp.replace(path)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", action="append", choices=["sqlite", "postgresql"], help="default: both")
    parser.add_argument(
        "--total", type=int, default=0, help="cases (default 100000; BENCH_SCALE=small: 5000)"
    )
    parser.add_argument("--large-total", type=int, default=0, help="PostgreSQL: queues again at this size")
    parser.add_argument("--no-sweep", action="store_true")
    parser.add_argument("--load", action="store_true", help="run bench/bench_load.py on PostgreSQL first")
    parser.add_argument("--label", default="")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--readme", nargs="?", const=str(DEFAULT_OUT), help="print the README table")
    parser.add_argument(
        "--only",
        default="",
        help="measure only these figures of the pages part (comma-separated keys, e.g. "
        "analytics_page,analytics_page_recomputed); implies --no-sweep",
    )
    parser.add_argument("--phase", choices=["pages", "large", "sweep"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.readme:
        print(readme_table(json.loads(Path(args.readme).read_text())))
        return 0
    if args.phase:
        db = (args.db or ["sqlite"])[0]
        # The progress lines (common.log prints) go to stderr; stdout carries only the JSON.
        real_stdout, sys.stdout = sys.stdout, sys.stderr
        if args.phase == "sweep":
            out = measure_sweep(db, args.total)
        else:
            out = measure_pages(db, args.total, writes=args.phase == "pages")
        sys.stdout = real_stdout
        print(json.dumps(out, ensure_ascii=False, default=str), flush=True)
        return 0
    if args.only:
        os.environ["SPEED19_ONLY"] = args.only  # read by the measuring children
        args.no_sweep = True
    doc = run(args)
    _write(args.out, doc)
    print(readme_table(doc))
    _log(f"wrote {args.out} in {doc['took_s']} s")
    failed = [db for db, part in doc["databases"].items() if "error" in part]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
