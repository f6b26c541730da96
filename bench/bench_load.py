"""Load: concurrent clients against the production shape on 127.0.0.1, then the no-loss verification.

    python bench/bench_load.py --db sqlite|postgresql      [BENCH_SCALE=small for a quick run]

The long form of the check in tests/trust/test_load_no_loss.py (bench.loadcheck): 16 client threads
× 500 requests (small: 8 × 25) mixing idempotent creates (retried, abandoned and retried), batch intake,
lifecycle actions with current and stale versions, and reads, against gunicorn with several workers,
the task worker and the scheduler as separate processes (docs/deploy.md, minus TLS; on PostgreSQL with
kesu.settings_production) on a fresh database (`--no-background`: gunicorn alone). It records the CPU
per request of the servers, the task processes, PostgreSQL and the clients (/proc) and the load average:
on the shared 2-core host requests/s follows the other sessions' load, CPU per request does not. Writes throughput, latency percentiles, status counts and the verification result to
bench/results/load-<db>.json; exits non-zero when anything was lost, doubled or answered 5xx.
"""

from __future__ import annotations

import os
import time

from common import bench_main, log, size, write_result


def add_arguments(parser) -> None:
    parser.add_argument("--threads", type=int, default=None, help="client threads (default 16; small 8)")
    parser.add_argument("--requests", type=int, default=None, help="requests per thread (500; small 25)")
    # One worker process per core: on this 2-core host 4 workers × 4 threads (deploy/kesu-web.service) cost
    # 55 server-side CPU ms per request against 46–50 for 2 × 4 in the same hour (issue 19), no more
    # throughput: the requests are CPU-bound, more processes only add switching and memory.
    parser.add_argument("--workers", type=int, default=int(os.environ.get("BENCH_LOAD_WORKERS", "2")))
    parser.add_argument("--server-threads", type=int, default=4)
    parser.add_argument(
        "--settings",
        default=None,
        help="the servers' settings (default: kesu.settings_production on PostgreSQL, as deployed: a "
        "psycopg pool per worker; kesu.settings on SQLite)",
    )
    parser.add_argument(
        "--no-background", action="store_true", help="without the task worker and scheduler processes"
    )


def run(ctx) -> dict:
    from bench import loadcheck

    threads = ctx.args.threads or size(16, 8)
    requests = ctx.args.requests or size(500, 25)
    background = not ctx.args.no_background
    settings = ctx.args.settings or (
        "kesu.settings_production" if ctx.db == "postgresql" else "kesu.settings"
    )
    log(
        f"load: {threads} threads × {requests} requests, gunicorn {ctx.args.workers} workers ({settings})"
        f"{' + task worker + scheduler' if background else ''} on {ctx.db}"
    )
    started = time.perf_counter()
    report = loadcheck.run_check(
        ctx.url,
        threads=threads,
        requests=requests,
        workers=ctx.args.workers,
        server_threads=ctx.args.server_threads,
        background=background,
        settings=settings,
    )
    print(loadcheck.format_report(report), flush=True)
    summary, verification = report["summary"], report["verification"]
    out = {
        "sizes": {
            "client_threads": threads,
            "requests_per_thread": requests,
            "requests": summary["requests"],
            "server": report["server"],
            "cases_at_end": verification["cases"],
            "events_at_end": verification["events"],
        },
        "results": {
            "throughput_rps": summary["requests_per_second"],
            # CPU per request by side (/proc), steady where requests/s moves with the shared host's load
            "server_cpu_ms_per_request": report["cpu"]["server_side_ms_per_request"],
            "server_capacity_rps": report["cpu"]["server_capacity_rps"],
            "load_average": [report["cpu"]["load_average_before"], report["cpu"]["load_average_after"]],
            "cpu": report["cpu"],
            "errors": report["errors"],
            "background": report["background"],
            "error_rate_5xx": round(verification["five_xx"] / summary["requests"], 6)
            if summary["requests"]
            else None,
            "load_seconds": summary["seconds"],
            "latency_ms": {k: summary[k] for k in ("p50_ms", "p95_ms", "max_ms")},
            "statuses": summary["statuses"],
            "conflict_codes": summary["conflict_codes"],
            "by_operation": summary["by_op"],
            "counts": {k: summary[k] for k in ("logical_creates", "batch_items", "actions_ok", "conflicts")},
            "verification": verification,
        },
        "baseline": {},
        "notes": [
            "Timings are on a shared 2-core machine; the verification is the point: every acknowledged "
            "create exists exactly once, timelines gap-free, numbers gap-free per day, refused (409) "
            "requests left nothing behind, no 5xx, audit chain intact.",
            "Background tasks: with the worker and the scheduler (the default) the server processes use the "
            "database task backend and the worker runs what they enqueue during the load; "
            "background.tasks counts the tasks by status at the end."
            if background
            else "Background tasks are not run (--no-background; the dummy task backend).",
        ],
    }
    if not verification["ok"]:
        write_result(
            "load",
            ctx.db,
            sizes=out["sizes"],
            results=out["results"],
            baseline={},
            notes=out["notes"] + [f"server log: {report['server_log_tail']}"],
            took_s=time.perf_counter() - started,
        )
        log("load: VERIFICATION FAILED — " + "; ".join(verification["problems"][:5]))
        raise SystemExit(1)
    return out


if __name__ == "__main__":
    bench_main(
        os.environ.get("BENCH_LOAD_NAME", "load"), run, description=__doc__, add_arguments=add_arguments
    )
