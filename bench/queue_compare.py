"""The HTML queues and the board, measured in one checkout against a copy of a prepared data set.

For comparing a change with its base in the same run (issue 19, queue20): build the data set once with
the base checkout (`bench/dataset.py --db sqlite|postgresql --total 100000 --days 365 --open-share 0.3
--seed 19`), then run this script from each checkout in turn, alternating, on a copy of it (the copy is
migrated, so the change's new indexes are built on it):

    cd BASE && python bench/queue_compare.py --db sqlite --template var/bench/dataset-100000-<key>.sqlite3 --name base
    cd MINE && python bench/queue_compare.py --db sqlite --template var/bench/dataset-100000-<key>.sqlite3 --name mine
    BENCH_PG_URL=postgresql://… python bench/queue_compare.py --db postgresql --template kesu_bench_ds_<key> --name mine

CPU ms per request (process, median; on PostgreSQL plus the server's CPU per request), queries per request.
`--reuse` measures an existing copy again; `--sql KEY` lists one request's statements with their times,
`--profile KEY` a cProfile of ten requests, `--html DIR` saves each page (to compare before/after).
"""

# ruff: noqa: E402 - the checkout is put on sys.path before Kesu and the bench helpers are imported
import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path
from urllib.parse import urlparse, urlunparse

TREE = Path.cwd()
sys.path.insert(0, str(TREE / "bench"))
sys.path.insert(0, str(TREE))
p = argparse.ArgumentParser()
p.add_argument("--db", default="sqlite")
p.add_argument("--template", required=True)
p.add_argument("--name", required=True)
p.add_argument("--repeat", type=int, default=15)
p.add_argument("--only", default="")
p.add_argument("--profile", default="")
p.add_argument("--sql", default="")
p.add_argument("--html", default="")
p.add_argument("--out", default="")
p.add_argument("--reuse", action="store_true")
# The server's CPU as this process's own backend alone (/proc/<backend pid>): unaffected by other work on
# the same cluster (a data set being built beside it), but without the server's background processes.
p.add_argument("--backend-only", action="store_true")
a = p.parse_args()

if a.db == "sqlite":
    target = TREE / "var" / "bench" / f"queue_compare_{a.name}.sqlite3"
    if not (a.reuse and target.exists()):
        for s in ("", "-wal", "-shm", "-journal"):
            Path(str(target) + s).unlink(missing_ok=True)
        shutil.copyfile(a.template, target)
    url = f"sqlite:///{target}"
else:
    import psycopg

    base = os.environ["BENCH_PG_URL"]
    dbn = f"queue_compare_{a.name}"
    if not a.reuse:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{dbn}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{dbn}" TEMPLATE "{a.template}"')
    url = urlunparse(urlparse(base)._replace(path="/" + dbn))
    os.environ["BENCH_PG_URL"] = base

from common import cpu_figure, db_server_cpu_s, setup_django

if a.backend_only:

    def db_server_cpu_s():  # noqa: F811 - the own backend's CPU instead of the whole server's
        from django.db import connection as conn

        if conn.vendor != "postgresql":
            return None
        conn.ensure_connection()
        fields = Path(f"/proc/{conn.connection.info.backend_pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


setup_django(a.name, a.db, url)
import kesu

assert str(Path(kesu.__file__).resolve()).startswith(str(TREE.resolve())), kesu.__file__
from django.db import connection

if a.db == "postgresql":
    with connection.cursor() as c:
        c.execute("ANALYZE")
from bench_web import DUEL_QUEUE
from django.core.cache import cache
from django.test import Client

from kesu.cases.demo.company import ensure_org

org = ensure_org()
users = {k: org.users[k] for k in ("supervisor", "handler", "manager")}
clients = {}
for who, u in users.items():
    c = Client()
    c.force_login(u)
    clients[who] = c

URLS = {
    "queue_html": ("supervisor", DUEL_QUEUE),
    "queue_unassigned": ("supervisor", "/queues/unassigned/"),
    "queue_approvals": ("supervisor", "/queues/approvals/"),
    "queue_overdue": ("supervisor", "/cases/?overdue=1&sort=due"),
    "queue_mine": ("handler", "/queues/mine/"),
    "queue_department": ("handler", "/queues/department/"),
    "queue_all": ("supervisor", "/cases/"),
    "board": ("supervisor", "/board/"),
    "board_uncached": ("supervisor", "/board/"),
}
keys = [k for k in URLS if not a.only or k in a.only.split(",")]


def getter(key):
    who, u = URLS[key]

    def fn():
        if key == "board_uncached":
            cache.clear()
        r = clients[who].get(u)
        assert r.status_code == 200, (key, r.status_code)
        return r

    return fn


if a.html:
    Path(a.html).mkdir(parents=True, exist_ok=True)
    import re

    for k in keys:
        html = getter(k)().content.decode()
        html = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "CSRF", html)
        html = re.sub(r'csrf[^"]*"[^"]{20,}"', "CSRF", html)
        Path(a.html, k + ".html").write_text(html)

res = {}
for k in keys:
    fn = getter(k)
    d0 = db_server_cpu_s()
    f = cpu_figure(fn, repeat=a.repeat, warmup=2)
    d1 = db_server_cpu_s()
    f["cpu_ms"] = f["cpu_ms_median"]
    if d0 is not None:
        f["db_cpu_ms_mean"] = round((d1 - d0) * 1000 / (a.repeat + 3), 2)
        f["cpu_ms"] = round(f["cpu_ms_median"] + f["db_cpu_ms_mean"], 2)
    res[k] = {x: f[x] for x in ("cpu_ms", "cpu_ms_median", "queries") if x in f} | (
        {"db": f["db_cpu_ms_mean"]} if "db_cpu_ms_mean" in f else {}
    )
    print(k, res[k], flush=True)

if a.sql:
    fn = getter(a.sql)
    fn()
    rows = []

    def w(execute, sql, params, many, context):
        t0 = time.perf_counter()
        r = execute(sql, params, many, context)
        rows.append((round((time.perf_counter() - t0) * 1000, 2), sql[:400], params))
        return r

    with connection.execute_wrapper(w):
        fn()
    for r in rows:
        print(r)
if a.profile:
    import cProfile
    import pstats

    fn = getter(a.profile)
    fn()
    pr = cProfile.Profile()
    pr.enable()
    for _ in range(10):
        fn()
    pr.disable()
    pstats.Stats(pr).sort_stats(os.environ.get("QC_SORT", "cumulative")).print_stats(
        int(os.environ.get("QC_LINES", "110"))
    )
if a.out:
    Path(a.out).write_text(json.dumps(res, indent=1))
