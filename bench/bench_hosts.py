"""Several app servers over one database: the load check with 1 and then 2 app servers (gunicorn).

    python bench/bench_hosts.py --db sqlite|postgresql      [BENCH_SCALE=small for a quick run]

The scenario of bench/bench_load.py (bench.loadcheck: idempotent creates with retries and abandoned
requests, batches, actions with current and stale versions, reads; then the no-loss verification), run
twice on a fresh database: once with one gunicorn, once with two (clients spread over them as by a load
balancer), each time with the task worker and the scheduler. Writes bench/results/hosts-<db>.json.

On the 2-core development machine both app servers, the clients, the worker, the scheduler and the
database share the same two cores: the figure shows the cost of coordination (more processes, more
connections, the same locks), not the capacity a second host adds.
"""

from __future__ import annotations

import os
import time

from common import bench_main, log, size


def add_arguments(parser) -> None:
    parser.add_argument("--threads", type=int, default=None, help="client threads (default 16; small 8)")
    parser.add_argument("--requests", type=int, default=None, help="requests per thread (200; small 20)")
    parser.add_argument("--workers", type=int, default=int(os.environ.get("BENCH_HOSTS_WORKERS", "2")))
    parser.add_argument("--server-threads", type=int, default=4)


def run(ctx) -> dict:
    from django.core.management import call_command

    from bench import loadcheck

    threads = ctx.args.threads or size(16, 8)
    requests = ctx.args.requests or size(200, 20)
    results = {}
    for app_servers in (1, 2):
        if app_servers > 1:
            call_command("flush", verbosity=0, interactive=False)
        log(
            f"hosts: {app_servers} app server(s) × gunicorn {ctx.args.workers} workers, {threads} × {requests}"
        )
        started = time.perf_counter()
        report = loadcheck.run_check(
            ctx.url,
            threads=threads,
            requests=requests,
            workers=ctx.args.workers,
            server_threads=ctx.args.server_threads,
            app_servers=app_servers,
        )
        print(loadcheck.format_report(report), flush=True)
        summary, verification = report["summary"], report["verification"]
        if not verification["ok"]:
            log("hosts: VERIFICATION FAILED — " + "; ".join(verification["problems"][:5]))
            raise SystemExit(1)
        results[f"app_servers_{app_servers}"] = {
            "throughput_rps": summary["requests_per_second"],
            "latency_ms": {k: summary[k] for k in ("p50_ms", "p95_ms", "max_ms")},
            "requests": summary["requests"],
            "errors": report["errors"],
            "verification_ok": verification["ok"],
            "seconds": round(time.perf_counter() - started, 1),
        }
    one, two = results["app_servers_1"]["throughput_rps"], results["app_servers_2"]["throughput_rps"]
    results["ratio_2_over_1"] = round(two / one, 3) if one else None
    return {
        "sizes": {
            "client_threads": threads,
            "requests_per_thread": requests,
            "gunicorn_workers_per_server": ctx.args.workers,
            "server_threads": ctx.args.server_threads,
        },
        "results": results,
        "baseline": {},
        "notes": [
            "Both app servers run on the same 2-core machine as the clients, the task worker, the scheduler "
            "and the database: the ratio shows the cost of coordinating two servers over one database "
            "(processes, connections, row locks), not the capacity a second host would add.",
            "Each run passes the no-loss verification of bench.loadcheck (nothing lost or doubled, no 5xx).",
        ],
    }


if __name__ == "__main__":
    bench_main("hosts", run, description=__doc__, add_arguments=add_arguments)
