"""What one request costs in the server process, without HTTP, gunicorn or a client: the per-request
overhead every page and API call pays (middleware, authentication, sessions, connections) beside the
load check's operations.

    python bench/request_overhead.py --db sqlite|postgresql [--repeat 300] [--profile OP] [--settings S]

Each request goes through the WSGI handler (`kesu.wsgi.application`) with a hand-built environ, as
gunicorn would call it, on a small organisation (bench.loadcheck.prepare) with the production settings
on PostgreSQL (a psycopg pool, CONN_MAX_AGE 0) and kesu.settings on SQLite. Per operation: CPU ms
per request of this process and, on PostgreSQL, of the database server (/proc), and the queries per
request. `--profile OP` prints a cProfile of that operation's requests (cumulative time, top 40).

`--mix LOAD_JSON` weighs the operations by the load check's request mix (its `by_operation` counts, e.g.
bench/results/load-postgresql.json): what an average request of the load check costs the server and the
database, and each operation's share of it. The load check's requests map to: create (also the abandoned
and retried ones) → create, read_case → read_case, action → add_note (its accept / assign /
start_investigation / add_note steps all go through `perform`), stale_action → stale_note (409),
batch → batch (4 items), read_list → list_open and list_50 (half each).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import secrets
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from shared import ROOT, pg_base_url, proc_stat, process_tree_cpu_s

OPS = (
    "healthz",
    "me",
    "list_open",
    "list_50",
    "read_case",
    "create",
    "add_note",
    "stale_note",
    "batch",
    "web_login_page",
    "web_me_session",
)
# The load check's operations (bench/loadcheck.py, `by_operation` in its result) → the operations here
# that stand for them, each with its share of that operation's requests.
MIX = {
    "create": {"create": 1.0},
    "create_abandoned": {"create": 1.0},
    "read_case": {"read_case": 1.0},
    "action": {"add_note": 1.0},
    "stale_action": {"stale_note": 1.0},
    "batch": {"batch": 1.0},
    "read_list": {"list_open": 0.5, "list_50": 0.5},
}


def _environ(method: str, path: str, headers: dict[str, str], body: bytes = b"") -> dict[str, Any]:
    path, _, query = path.partition("?")
    env = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "CONTENT_LENGTH": str(len(body)),
    }
    for name, value in headers.items():
        key = name.upper().replace("-", "_")
        if key == "CONTENT_TYPE":
            env["CONTENT_TYPE"] = value
        else:
            env[f"HTTP_{key}"] = value
    return env


class Caller:
    def __init__(self) -> None:
        from kesu.wsgi import application

        self.app = application
        self.status = ""
        self.headers: list[tuple[str, str]] = []

    def __call__(
        self, method: str, path: str, token: str | None = None, body: Any = None, **headers: str
    ) -> tuple[int, bytes]:
        all_headers = {"Accept": "application/json", "X-Forwarded-Proto": "https", **headers}
        if token:
            all_headers["Authorization"] = f"Bearer {token}"
        raw = b""
        if body is not None:
            raw = json.dumps(body, ensure_ascii=False).encode()
            all_headers["Content-Type"] = "application/json"

        def start_response(status: str, response_headers: list[tuple[str, str]], exc_info=None):
            self.status, self.headers = status, response_headers

        result = self.app(_environ(method, path, all_headers, raw), start_response)
        try:
            content = b"".join(result)
        finally:
            if hasattr(result, "close"):
                result.close()
        return int(self.status.split()[0]), content


def _complaint(tag: str) -> dict[str, Any]:
    return {
        "channel": "phone",
        "kind": "complaint",
        "category": "product.defect",
        "description": f"压测{tag}：热水器使用{len(tag) + 3}天后漏水，要求更换。",
        "demands": "更换新机",
        "customer": {"name": "客户1", "phone": f"139{secrets.randbelow(10**8):08d}"},
    }


def build_ops(call: Caller, actors: Any) -> dict[str, Any]:
    """OP → a function sending one request (asserting its status)."""
    from django.contrib.auth import get_user_model
    from django.contrib.sessions.backends.db import SessionStore  # noqa: F401 - the configured engine below
    from django.test import Client

    def ok(status: int, content: bytes, *expected: int) -> None:
        if status not in expected:
            raise SystemExit(f"unexpected {status}: {content[:300]!r}")

    numbers: list[str] = []
    for _ in range(3):
        status, content = call("POST", "/api/v1/cases", actors.intake_token, _complaint(uuid.uuid4().hex[:8]))
        ok(status, content, 201)
        numbers.append(json.loads(content)["case"]["number"])
    # one case in `investigating` for add_note
    target = numbers[0]
    for action, token, data in (
        ("accept", actors.manager_token, {}),
        ("assign", actors.manager_token, {"handler": actors.handler_id}),
        ("start_investigation", actors.handler_token, {}),
    ):
        status, content = call("POST", f"/api/v1/cases/{target}/{action}", token, data)
        ok(status, content, 200)

    # a web session (the login page and an authenticated API GET with the session cookie)
    client = Client()
    manager = get_user_model().objects.get(username="lc_manager")
    client.force_login(manager)
    cookie = f"sessionid={client.cookies['sessionid'].value}"

    def healthz() -> None:
        ok(*call("GET", "/healthz"), 200)

    def me() -> None:
        ok(*call("GET", "/api/v1/org/me", actors.manager_token), 200)

    def list_open() -> None:
        ok(*call("GET", "/api/v1/cases?limit=20&open_only=true", actors.manager_token), 200)

    def list_50() -> None:
        ok(*call("GET", "/api/v1/cases?limit=50", actors.manager_token), 200)

    def read_case() -> None:
        ok(*call("GET", f"/api/v1/cases/{numbers[1]}", actors.manager_token), 200)

    def create() -> None:
        key = uuid.uuid4().hex
        ok(
            *call("POST", "/api/v1/cases", actors.intake_token, _complaint(key[:12]), Idempotency_Key=key),
            201,
        )

    def add_note() -> None:
        ok(
            *call(
                "POST", f"/api/v1/cases/{target}/add_note", actors.handler_token, {"text": uuid.uuid4().hex}
            ),
            200,
        )

    def stale_note() -> None:
        # a stale expected_version: refused with 409 inside perform, nothing written
        ok(
            *call(
                "POST",
                f"/api/v1/cases/{target}/add_note",
                actors.handler_token,
                {"text": uuid.uuid4().hex, "expected_version": 1},
            ),
            409,
        )

    def batch() -> None:
        items = []
        for _ in range(4):
            item = _complaint(uuid.uuid4().hex[:10])
            item["external_source"] = "loadcheck"
            item["external_id"] = uuid.uuid4().hex[:20]
            items.append(item)
        key = uuid.uuid4().hex
        ok(
            *call("POST", "/api/v1/intake/batch", actors.intake_token, {"items": items}, Idempotency_Key=key),
            200,
        )

    def web_login_page() -> None:
        ok(*call("GET", "/login/", Accept="text/html"), 200)

    def web_me_session() -> None:
        ok(*call("GET", "/api/v1/org/me", None, Cookie=cookie), 200)

    return {name: fn for name, fn in locals().items() if name in OPS}


def measure(fn, repeat: int, postmaster: int | None) -> dict[str, Any]:
    from django.db import connection

    for _ in range(5):
        fn()
    queries = [0]

    def count(execute, sql, params, many, context):
        queries[0] += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        fn()
    cpu: list[float] = []
    # the postmaster's tree: the pooled backends come and go (max_idle, max_lifetime)
    db0 = process_tree_cpu_s([postmaster]) if postmaster else 0.0
    c_all = time.process_time()
    for _ in range(repeat):
        c0 = time.process_time()
        fn()
        cpu.append(time.process_time() - c0)
    c_all = time.process_time() - c_all
    db = (process_tree_cpu_s([postmaster]) - db0) if postmaster else 0.0
    return {
        "cpu_ms_median": round(statistics.median(cpu) * 1000, 2),
        "cpu_ms_mean": round(c_all * 1000 / repeat, 2),
        "db_cpu_ms_mean": round(db * 1000 / repeat, 2) if postmaster else None,
        "total_ms_mean": round((c_all + db) * 1000 / repeat, 2),
        "queries": queries[0],
    }


def print_queries(name: str, fn) -> None:
    from django.db import connection

    fn()
    seen: list[str] = []

    def log(execute, sql, params, many, context):
        seen.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(log):
        fn()
    print(f"--- {name}: {len(seen)} queries")
    for sql in seen:
        print("   ", sql[:400])


def weigh(results: dict[str, Any], load_json: str) -> dict[str, Any] | None:
    """The load check's average request from the operations measured here (see MIX), or None when an
    operation it needs was not measured."""
    counts = {
        op: figure["requests"]
        for op, figure in json.loads(Path(load_json).read_text())["results"]["by_operation"].items()
    }
    total = sum(counts[op] for op in MIX if op in counts)
    cost: dict[str, float] = {}
    cpu = db = 0.0
    for op, parts in MIX.items():
        share = counts.get(op, 0) / total
        for name, part in parts.items():
            if name not in results:
                return None
            figure = results[name]
            cpu += share * part * figure["cpu_ms_mean"]
            db += share * part * (figure["db_cpu_ms_mean"] or 0.0)
            cost[op] = cost.get(op, 0.0) + share * part * figure["total_ms_mean"]
    spent = cpu + db
    return {
        "from": load_json,
        "cpu_ms": round(cpu, 2),
        "db_cpu_ms": round(db, 2),
        "total_ms": round(spent, 2),
        "capacity_rps_2_cores": round(2000 / spent, 1) if spent else None,
        "shares": {
            op: {"requests_share": round(counts.get(op, 0) / total, 3), "cost_share": round(c / spent, 3)}
            for op, c in sorted(cost.items(), key=lambda kv: -kv[1])
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--repeat", type=int, default=300)
    parser.add_argument("--ops", default=",".join(OPS), help="comma-separated subset of " + ",".join(OPS))
    parser.add_argument("--profile", default=None, help="print a cProfile of this operation")
    parser.add_argument("--settings", default=None, help="default: kesu.settings_production on PostgreSQL")
    parser.add_argument(
        "--sql", action="store_true", help="print the queries of one request of each operation"
    )
    parser.add_argument(
        "--mix", default=None, help="a load check result (JSON): weigh the operations by its request mix"
    )
    parser.add_argument("--json", default=None, help="write the figures here")
    parser.add_argument("--label", default="", help="a name for this run in the JSON")
    args = parser.parse_args()

    settings = args.settings or ("kesu.settings_production" if args.db == "postgresql" else "kesu.settings")
    os.environ["DJANGO_SETTINGS_MODULE"] = settings
    os.environ.setdefault("KESU_SECRET_KEY", secrets.token_urlsafe(64))
    os.environ.setdefault("KESU_LOG_LEVEL", "ERROR")
    os.environ.setdefault("KESU_TASKS_BACKEND", "django_tasks.backends.dummy.DummyBackend")
    os.environ.setdefault("KESU_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
    if args.db == "postgresql":
        import psycopg

        base = pg_base_url()
        if base is None:
            raise SystemExit("no PostgreSQL: run through scripts/pg_cluster.sh")
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute('DROP DATABASE IF EXISTS "kesu_overhead" WITH (FORCE)')
            conn.execute('CREATE DATABASE "kesu_overhead"')
        os.environ["KESU_DATABASE_URL"] = base.rsplit("/", 1)[0] + "/kesu_overhead"
    else:
        path = ROOT / "var" / "bench" / "overhead.sqlite3"
        path.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        os.environ["KESU_DATABASE_URL"] = f"sqlite:///{path}"
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0, interactive=False)
    from bench import loadcheck

    actors = loadcheck.prepare()
    call = Caller()
    ops = build_ops(call, actors)
    postmaster = None
    if connection.vendor == "postgresql":
        # The figure is the postmaster's whole tree (every pooled backend, the background processes).
        connection.ensure_connection()
        postmaster = int(proc_stat(connection.connection.info.backend_pid)[1])
    results: dict[str, Any] = {}
    for name in [o for o in args.ops.split(",") if o]:
        if args.sql:
            print_queries(name, ops[name])
        if args.profile == name:
            profiler = cProfile.Profile(time.process_time)
            profiler.enable()
            figure = measure(ops[name], args.repeat, postmaster)
            profiler.disable()
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(
                int(os.environ.get("PROFILE_LINES", 45))
            )
            print(out.getvalue())
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(
                int(os.environ.get("PROFILE_LINES", 30))
            )
            print(out.getvalue())
        else:
            figure = measure(ops[name], args.repeat, postmaster)
        results[name] = figure
        print(
            f"{name:16} CPU {figure['cpu_ms_mean']:6.2f} ms/request (median {figure['cpu_ms_median']:.2f})"
            + (f" + database {figure['db_cpu_ms_mean']:.2f}" if postmaster else "")
            + f", {figure['queries']} queries",
            flush=True,
        )
    mix = weigh(results, args.mix) if args.mix else None
    if mix:
        print(
            f"load check mix   CPU {mix['cpu_ms']:6.2f} ms/request"
            + (f" + database {mix['db_cpu_ms']:.2f}" if postmaster else "")
            + f" = {mix['total_ms']:.2f} ms: at most {mix['capacity_rps_2_cores']} requests/s on 2 cores",
            flush=True,
        )
        for op, share in mix["shares"].items():
            print(
                f"    {op:16} {share['requests_share']:5.1%} of requests, {share['cost_share']:5.1%} of the CPU"
            )
    if args.json:
        doc = {
            "label": args.label,
            "db": args.db,
            "settings": settings,
            "repeat": args.repeat,
            "results": results,
            "mix": mix,
        }
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(doc, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
