"""The manager's analytics page (`GET /analytics/`) alone: CPU ms and queries per request, and its figures.

    BENCH_SCALE=0.1 .venv/bin/python bench/bench_analytics_page.py --db sqlite      # 100k cases
    scripts/pg_cluster.sh env BENCH_SCALE=0.1 .venv/bin/python bench/bench_analytics_page.py --db postgresql
    ... --profile 30      # also print the 30 most expensive functions (cProfile, cumulative)
    ... --label base      # the file name's tag (bench/results/speed19/analytics-page-<db>-<n>-<label>.json)

The data set is the analytics benchmark's (bench/dataset.py, 730 days, 10 % open; the close-time rollup
rebuilt as there). Measured with the test client as the manager, the last 12 months (the page's default):

* `page`: the page as served, repeated (what a manager re-opening the page costs);
* `page_cold`: the same with Django's cache emptied before every request (nothing derived is reused
  between requests: the cost after every case event);
* `page_live_tables`: the rollup switched off (`rollups.live_tables()`), every figure over the cases.

CPU = this process (`time.process_time`), plus on PostgreSQL the server backend's CPU read from
/proc (the cluster is local), reported separately and summed. `figures` = every number the page shows
(KPI cards, flags, chart series): run on two checkouts over the same data set, they must be equal.
Runs on any checkout (it only requests the page), so the base is measured with the same script.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import json
import os
import pstats
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import setup_django  # noqa: E402
from dataset import prepare  # noqa: E402
from shared import RESULTS_DIR, SCALE  # noqa: E402


def _backend_cpu(pid: int | None) -> float:
    if not pid:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _figures(response) -> dict:
    """Every number on the page, from the view's context (the template renders exactly these)."""
    ctx = response.context
    kpi = {k: ctx["kpi"][k] for k in ("closing_rate", "satisfaction_rate", "avg_close_hours")}  # the cards
    month_row = ctx["month_row"]
    return {
        "total": ctx["total"],
        "month_row": None if month_row is None else {k: v for k, v in month_row.items()},
        "flags": {k: v["count"] for k, v in ctx["flags"].items()},
        "flag_urls": {k: v["url"] for k, v in ctx["flags"].items()},
        "choices": ctx["choices"],
        "kpi": kpi,
        "chart_data": ctx["chart_data"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--total", type=int, default=None, help="cases (default: 1M × BENCH_SCALE)")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--profile", type=int, default=0)
    parser.add_argument("--label", default="analytics19")
    args = parser.parse_args()
    if args.total is None:
        scale = {"full": 1.0, "small": 0.02}.get(SCALE) or float(SCALE)
        args.total = int(1_000_000 * scale)
    url, info = prepare("analytics_page", args.db, total=args.total, days=730, open_share=0.1)
    setup_django("analytics_page", args.db, url)

    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.cache import cache
    from django.db import connection
    from django.test import Client

    from kesu.analytics.rollups import live_tables, rebuild_close_times

    settings.ALLOWED_HOSTS = ["*"]
    rebuild_close_times()
    with connection.cursor() as cur:
        cur.execute('ANALYZE "analytics_caseclosetime"')
    backend = None
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("SELECT pg_backend_pid()")
            backend = cur.fetchone()[0]
    manager = get_user_model().objects.get(username="manager")
    client = Client()
    client.force_login(manager)

    def get():
        r = client.get("/analytics/")
        assert r.status_code == 200, r.status_code
        return r

    def figure(cold: bool) -> dict:
        get()  # warm-up
        queries = [0]

        def count(execute, sql, params, many, context):
            queries[0] += 1
            return execute(sql, params, many, context)

        if cold:
            cache.clear()
        with connection.execute_wrapper(count):
            get()
        own, server = [], []
        for _ in range(args.repeat):
            if cold:
                cache.clear()
            c0, s0 = time.process_time(), _backend_cpu(backend)
            get()
            own.append(time.process_time() - c0)
            server.append(_backend_cpu(backend) - s0)
        out = {
            "cpu_ms_median": round(statistics.median(own) * 1000, 1),
            "cpu_ms_min": round(min(own) * 1000, 1),
            "queries": queries[0],
            "n": args.repeat,
        }
        if backend:
            out["server_cpu_ms_median"] = round(statistics.median(server) * 1000, 1)
            out["total_cpu_ms_median"] = round(
                statistics.median([a + b for a, b in zip(own, server, strict=True)]) * 1000, 1
            )
        return out

    results = {"page": figure(False), "page_cold": figure(True)}
    with live_tables():
        results["page_live_tables"] = figure(True)
    print(json.dumps(results, indent=1), flush=True)
    if args.profile:
        cache.clear()
        get()
        profiler = cProfile.Profile()
        for _ in range(3):
            cache.clear()
            profiler.enable()
            get()
            profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(args.profile)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(args.profile)
    # The test client's record of the template context (after measuring: it instruments rendering).
    from django.test.utils import setup_test_environment

    setup_test_environment()
    settings.ALLOWED_HOSTS = ["*"]
    figures = _figures(get())
    with live_tables():
        live_figures = _figures(get())
    blob = json.dumps(figures, sort_keys=True, default=str, ensure_ascii=False)
    doc = {
        "name": "analytics-page",
        "db": args.db,
        "label": args.label,
        "cases": args.total,
        "dataset": info,
        "results": results,
        "figures_sha256": hashlib.sha256(blob.encode()).hexdigest(),
        "figures_equal_live_tables": figures == live_figures,
        "figures": json.loads(blob),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    out = RESULTS_DIR / "speed19" / f"analytics-page-{args.db}-{args.total // 1000}k-{args.label}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, ensure_ascii=False, indent=1, default=str) + "\n")
    print(
        f"wrote {out}  figures {doc['figures_sha256'][:12]}  equal live: {doc['figures_equal_live_tables']}"
    )


if __name__ == "__main__":
    main()
