"""Issue 19, the case page alone: CPU ms per request (process + on PostgreSQL the database server) and,
on PostgreSQL, EXPLAIN (ANALYZE, BUFFERS) of every query one case page sends, costliest first.

    .venv/bin/python bench/casepage19.py --db sqlite
    scripts/pg_cluster.sh .venv/bin/python bench/casepage19.py --db postgresql

Same data set and request as bench/speed19.py's `case_page` (100k cases, supervisor, the 200 newest
open cases in rotation). Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from speed19 import OPEN_SHARE, _figure, _setup, default_total  # noqa: E402


def _backend_cpu_s(connection) -> float | None:
    """CPU seconds of this connection's PostgreSQL backend so far (None on SQLite)."""
    from shared import _CLK_TCK, proc_stat

    if connection.vendor != "postgresql":
        return None
    connection.ensure_connection()
    fields = proc_stat(connection.connection.info.backend_pid)
    return None if fields is None else (int(fields[11]) + int(fields[12])) / _CLK_TCK


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", choices=["sqlite", "postgresql"], required=True)
    parser.add_argument("--repeat", type=int, default=40)
    parser.add_argument("--explain-pages", type=int, default=0, help="EXPLAIN ANALYZE over N pages")
    parser.add_argument("--explain", type=int, default=8, help="show the N costliest queries' plans")
    args = parser.parse_args()
    total = default_total()
    _setup("casepage19", args.db, total, OPEN_SHARE)
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from kesu.cases.demo.company import ensure_org
    from kesu.cases.models import OPEN_STATUSES, Case

    org = ensure_org()
    client = Client()
    client.force_login(org.users["supervisor"])
    numbers = list(
        Case.objects.filter(status__in=OPEN_STATUSES)
        .order_by("-received_at")
        .values_list("number", flat=True)[:200]
    )
    rotation = iter(numbers * 100)

    def get() -> None:
        r = client.get(f"/cases/{next(rotation)}/")
        assert r.status_code == 200, r.status_code

    for _ in range(5):
        get()  # warm caches (vectors, policy) as a serving process has them
    backend0 = _backend_cpu_s(connection)
    out = {
        "db": args.db,
        "total": total,
        "root": str(HERE.parent),
        "case_page": _figure(get, repeat=args.repeat),
    }
    backend1 = _backend_cpu_s(connection)
    if backend0 is not None and backend1 is not None:
        # this connection's backend alone (the server figure also holds autovacuum, checkpointer, …)
        out["db_backend_cpu_ms_mean"] = round((backend1 - backend0) * 1000 / (args.repeat + 2), 2)
    if connection.vendor == "postgresql":
        plans = []
        with CaptureQueriesContext(connection) as ctx:
            get()
        with connection.cursor() as cur:
            for q in ctx.captured_queries:
                sql = q["sql"]
                if not sql.lstrip().upper().startswith("SELECT"):
                    continue
                cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
                lines = [r[0] for r in cur.fetchall()]
                ms = float(lines[-1].split(":")[1].split()[0])
                plans.append((ms, sql[:300], lines))
        plans.sort(key=lambda p: -p[0])
        out["queries"] = len(ctx.captured_queries)
        out["explain_total_ms"] = round(sum(p[0] for p in plans), 2)
        out["costliest"] = [{"ms": p[0], "sql": p[1], "plan": p[2]} for p in plans[: args.explain]]
    if connection.vendor == "postgresql" and args.explain_pages:
        # over several pages: execution + planning time per query shape (the SQL's first 120 characters)
        shapes: dict[str, list[float]] = {}
        for _ in range(args.explain_pages):
            with CaptureQueriesContext(connection) as ctx:
                get()
            with connection.cursor() as cur:
                for q in ctx.captured_queries:
                    sql = q["sql"]
                    if not sql.lstrip().upper().startswith("SELECT"):
                        continue
                    cur.execute("EXPLAIN (ANALYZE) " + sql)
                    lines = [r[0] for r in cur.fetchall()]
                    ms = {ln.split(":")[0]: float(ln.split(":")[1].split()[0]) for ln in lines[-2:]}
                    shape = shapes.setdefault(sql[:120], [0.0, 0.0, 0])
                    shape[0] += ms.get("Execution Time", 0.0) / args.explain_pages
                    shape[1] += ms.get("Planning Time", 0.0) / args.explain_pages
                    shape[2] += 1
        out["per_page_ms_by_shape"] = sorted(
            ([round(e, 2), round(p, 2), n, k] for k, (e, p, n) in shapes.items()), key=lambda r: -r[0] - r[1]
        )[:15]
    print(json.dumps(out, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
