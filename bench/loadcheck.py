"""The no-loss load check (issue 8): concurrent clients against the real server, then an audit of the data.

    python -m bench.loadcheck --database-url URL [--migrate] [--threads 8] [--requests 25] [--json out]

The server is the production shape on loopback (minus TLS): gunicorn (`kesu.wsgi`, several workers with
threads; Django's `runserver` when gunicorn is not installed) on 127.0.0.1 and a free port, and beside it,
as separate processes, the task workers (`kesu worker`, with the database task backend, so that the web
processes enqueue notifications as in production) and the scheduler (`scheduler`), all against a
throwaway database (the caller creates it; `--migrate` migrates it, otherwise it is flushed).
`--no-background` leaves the worker and the scheduler out. All of them are stopped at the end (SIGTERM,
SIGKILL after a grace period). `prepare()` makes a
small organisation and bearer tokens; `run_load()` runs N client threads that each send M requests,
a mix of

* complaint creation with an `Idempotency-Key`; some retried with the same key, some first sent with a
  client timeout so short that the client gives up while the server still works, then retried;
* batch intake (`POST /api/v1/intake/batch`), some re-sent with the same key and some re-sent with a new key
  by another thread (the items are idempotent by external id);
* accept / assign / start_investigation / add_note with `expected_version`, some deliberately stale;
* reads (queue list, case page).

`verify()` then checks, in the database: every acknowledged create exists exactly once (by number, by
idempotency key, by external id and by its unique text), every retry got the first answer, every case's
events are seq 1..version without gaps and its status is the last event's, case numbers per day are
unique and gap-free (and match the day counter), every 409 left no event behind (each case holds exactly
its register event plus the actions answered 200), no response was a 5xx, and the audit chain verifies.
Timings (p50/p95) are reported, never asserted.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.shared import machine_cpu_s, postgres_server_cpu_s, process_tree_cpu_s  # noqa: E402

# The checkout this file belongs to: the server runs its code (`manage.py` and `kesu` from here), not
# whichever checkout the virtualenv was installed from.
BASE_DIR = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
CLIENT_TIMEOUT = 120.0  # seconds; a normal request never comes near it
ABANDON_TIMEOUT = 0.002  # the simulated client timeout: the client gives up, the server carries on
MARK = "压测"  # marks the load check's complaint texts

OPS = {
    "create": 30,
    "create_retry": 8,
    "create_abandon": 5,
    "batch": 6,
    "batch_resend": 3,
    "action": 26,
    "stale_action": 7,
    "read_list": 7,
    "read_case": 8,
}


# --- set-up -----------------------------------------------------------------------------------------


@dataclass
class Actors:
    intake_token: str
    manager_token: str
    handler_token: str
    handler_id: int
    intake_id: int


def prepare(preset: str = "general") -> Actors:
    """An active policy, three departments, an intake clerk, a manager and a handler with bearer tokens.

    Needs Django set up on the (empty or flushed) database the server will use."""
    from kesu.org import roles
    from kesu.org.models import ApiToken, Department
    from kesu.org.services import create_staff, ensure_role_groups
    from kesu.policy.selectors import NoActivePolicy, active_policy
    from kesu.policy.services import load_preset

    try:
        active_policy()
    except NoActivePolicy:
        load_preset(preset)
    ensure_role_groups()

    def dept(code: str, name: str, parent: Department | None) -> Department:
        found, _ = Department.objects.get_or_create(code=code, defaults={"name": name, "parent": parent})
        return found

    hq = dept("HQ", "总公司", None)
    service = dept("SERVICE", "客户服务部", hq)
    quality = dept("QUALITY", "质量管理部", hq)

    def person(username: str, department: Department, role: str):
        return create_staff(
            username=username, full_name=username, department=department, role_codes=[role]
        ).user

    intake = person("lc_intake", service, roles.INTAKE)
    manager = person("lc_manager", service, roles.CS_MANAGER)
    handler = person("lc_handler", quality, roles.HANDLER)
    tokens = [ApiToken.issue(u, "load check", ["*"])[1] for u in (intake, manager, handler)]
    return Actors(tokens[0], tokens[1], tokens[2], handler.pk, intake.pk)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class ServerDidNotStart(RuntimeError):
    pass


# The processes that run beside the web server in production (docs/deploy.md): name → command.
BACKGROUND = {"worker": ["worker"], "scheduler": ["scheduler"]}
DB_TASKS_BACKEND = "django_tasks_db.DatabaseBackend"


def stop_process(process: subprocess.Popen | None, timeout: float = 20) -> int | None:
    """SIGTERM, wait up to `timeout` seconds, then SIGKILL. Returns the exit code (None: never started)."""
    if process is None:
        return None
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


class Server:
    """The app under gunicorn (or runserver) on 127.0.0.1, and with `background` the task worker and the
    scheduler, as child processes; a context manager that stops them all."""

    def __init__(
        self,
        database_url: str,
        *,
        workers: int = 3,
        threads: int = 4,
        log_dir: Path | None = None,
        background: bool = True,
        db_tasks: bool | None = None,
        name: str = "server",
        settings: str = "kesu.settings",
    ):
        self.database_url = database_url
        # kesu.settings_production: what deploy/ runs (on PostgreSQL a psycopg pool per worker process,
        # full password hashing, HTTPS behind the proxy: the clients send X-Forwarded-Proto as nginx does).
        self.settings = settings
        # Another app server beside one that runs the background processes enqueues into the database too.
        self.db_tasks = background if db_tasks is None else db_tasks
        self.name = name
        self.workers = workers
        self.threads = threads
        self.background = background
        self.background_processes: dict[str, subprocess.Popen] = {}
        # Filled in by __exit__: whether each background process was still running at the end (it
        # should be) and how it exited when stopped.
        self.background_report: dict[str, dict[str, Any]] = {}
        self.port = free_port()
        self.log_dir = log_dir or Path(tempfile.mkdtemp(prefix="kesu-load-"))
        self.log_path = self.log_dir / f"{name}.log"
        self.process: subprocess.Popen | None = None
        self.kind = (
            "gunicorn" if shutil.which("gunicorn", path=str(Path(sys.executable).parent)) else "runserver"
        )

    @property
    def base(self) -> str:
        return f"http://{HOST}:{self.port}"

    def command(self) -> list[str]:
        if self.kind == "gunicorn":
            return [
                sys.executable,
                "-m",
                "gunicorn",
                "kesu.wsgi:application",
                "--bind",
                f"{HOST}:{self.port}",
                "--workers",
                str(self.workers),
                "--threads",
                str(self.threads),
                "--worker-class",
                "gthread",
                "--timeout",
                "120",
                "--graceful-timeout",
                "10",
                # as deployed (deploy/kesu-web.service): the clients keep their connections between
                # requests, as nginx's upstream keep-alive does; gunicorn's default closes them after 2 s idle
                "--keep-alive",
                "75",
                "--log-level",
                "warning",
                "--preload",
            ]
        return [sys.executable, "manage.py", "runserver", f"{HOST}:{self.port}", "--noreload"]

    def env(self) -> dict[str, str]:
        env = {
            **os.environ,
            "KESU_DATABASE_URL": self.database_url,
            "DJANGO_SETTINGS_MODULE": self.settings,
            "KESU_LOG_LEVEL": "WARNING",
            "KESU_MEDIA_DIR": str(self.log_dir / "media"),
            "PYTHONUNBUFFERED": "1",
        }
        if self.settings == "kesu.settings_production" and len(env.get("KESU_SECRET_KEY", "")) < 50:
            import secrets

            env["KESU_SECRET_KEY"] = secrets.token_urlsafe(64)
        if self.db_tasks:
            # Without the worker nothing would run what the web processes enqueue (the benchmarks set
            # a dummy backend); with it, they enqueue into the database as in production.
            env["KESU_TASKS_BACKEND"] = DB_TASKS_BACKEND
        return env

    def __enter__(self) -> Server:
        try:
            self._start()
            self._wait_until_answering()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _start(self) -> None:
        env = self.env()
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in __exit__
        self.process = subprocess.Popen(
            self.command(), cwd=str(BASE_DIR), env=env, stdout=self._log, stderr=subprocess.STDOUT
        )
        if self.background:
            for name, args in BACKGROUND.items():
                with open(self.log_dir / f"{name}.log", "ab") as log:  # the child keeps its own descriptor
                    self.background_processes[name] = subprocess.Popen(
                        [sys.executable, "-m", "django", *args],
                        cwd=str(BASE_DIR),
                        env=env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )

    def _wait_until_answering(self) -> None:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerDidNotStart(f"{self.kind} exited ({self.process.returncode}): {self.log_tail()}")
            try:
                conn = http.client.HTTPConnection(HOST, self.port, timeout=5)
                conn.request("GET", "/api/v1/cases?limit=1")
                conn.getresponse().read()
                conn.close()
                return
            except OSError:
                time.sleep(0.2)
        raise ServerDidNotStart(f"{self.kind} did not answer within 90 s: {self.log_tail()}")

    def __exit__(self, *exc: Any) -> None:
        for name, process in self.background_processes.items():
            running_at_end = process.poll() is None
            code = stop_process(process)
            self.background_report[name] = {
                "pid": process.pid,
                "running_at_end": running_at_end,
                "exit_code": code,
                "log_tail": "" if running_at_end else self.log_tail(n=2000, name=name),
            }
        stop_process(self.process)
        if hasattr(self, "_log"):
            self._log.close()

    def log_tail(self, n: int = 4000, name: str | None = None) -> str:
        try:
            return (self.log_dir / f"{name or self.name}.log").read_text(errors="replace")[-n:]
        except OSError:
            return ""


# --- the clients --------------------------------------------------------------------------------------


@dataclass
class Call:
    op: str
    method: str
    path: str
    status: int  # 0: no answer (connection error or client timeout)
    seconds: float
    code: str = ""


@dataclass
class Ledger:
    """What the clients were told; the shared state the threads pick their work from."""

    calls: list[Call] = field(default_factory=list)
    # logical create (its idempotency key) → {"number", "text", "answers": [status...]}
    creates: dict[str, dict[str, Any]] = field(default_factory=dict)
    # external id → numbers every batch answer gave for it
    external: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    batches: list[tuple[str, list[dict[str, Any]]]] = field(default_factory=list)  # (key, items)
    # number → actions answered 200 / requests with no answer
    acted: Counter = field(default_factory=Counter)
    unanswered_actions: Counter = field(default_factory=Counter)
    acted_events: list[tuple[str, int, str]] = field(default_factory=list)  # (number, seq, action)
    conflicts: list[tuple[str, str, int]] = field(default_factory=list)  # (number, note, expected_version)
    numbers: list[str] = field(default_factory=list)  # cases the clients know, to act on and read
    replay_mismatches: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class Client:
    def __init__(self, port: int, ledger: Ledger) -> None:
        self.port = port
        self.ledger = ledger
        self.conn: http.client.HTTPConnection | None = None

    def call(
        self,
        op: str,
        method: str,
        path: str,
        token: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        timeout: float = CLIENT_TIMEOUT,
    ) -> tuple[int, Any]:
        all_headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/json",
            # as nginx tells the app behind it (kesu.settings_production redirects plain HTTP otherwise)
            "X-Forwarded-Proto": "https",
            **(headers or {}),
        }
        payload = None
        if body is not None:
            payload = json.dumps(body, ensure_ascii=False).encode()
            all_headers["Content-Type"] = "application/json"
        abandon = timeout < 1
        conn = http.client.HTTPConnection(HOST, self.port, timeout=timeout) if abandon else self._conn()
        started = time.perf_counter()
        status, data = 0, None
        try:
            conn.request(method, path, body=payload, headers=all_headers)
            response = conn.getresponse()
            raw = response.read()
            status = response.status
            if raw and response.getheader("Content-Type", "").startswith("application/json"):
                data = json.loads(raw)
        except (OSError, http.client.HTTPException):
            conn.close()
            if not abandon:
                self.conn = None
        finally:
            if abandon:
                conn.close()
        seconds = time.perf_counter() - started
        code = data.get("code", "") if isinstance(data, dict) and status >= 400 else ""
        with self.ledger.lock:
            self.ledger.calls.append(Call(op, method, path, status, seconds, code))
        return status, data

    def _conn(self) -> http.client.HTTPConnection:
        if self.conn is None:
            self.conn = http.client.HTTPConnection(HOST, self.port, timeout=CLIENT_TIMEOUT)
        return self.conn


def _complaint(rng: random.Random, tag: str) -> dict[str, Any]:
    return {
        "channel": "phone",
        "kind": "complaint",
        "category": "product.defect",
        "description": f"{MARK}{tag}：热水器使用{rng.randint(2, 90)}天后漏水，要求更换。",
        "demands": "更换新机",
        "customer": {"name": f"客户{rng.randint(1, 999)}", "phone": f"139{rng.randrange(10**8):08d}"},
    }


class Worker(threading.Thread):
    def __init__(self, index: int, port: int, actors: Actors, ledger: Ledger, requests: int, seed: int):
        super().__init__(name=f"load-{index}", daemon=True)
        self.index = index
        self.client = Client(port, ledger)
        self.actors = actors
        self.ledger = ledger
        self.requests = requests
        self.rng = random.Random(seed * 1000 + index)
        self.error: BaseException | None = None
        self.sent = 0

    def run(self) -> None:
        try:
            while self.sent < self.requests:
                op = self.rng.choices(list(OPS), weights=list(OPS.values()))[0]
                getattr(self, op)()
        except BaseException as exc:  # noqa: BLE001 - reported by the caller
            self.error = exc

    def _call(self, *args: Any, **kwargs: Any) -> tuple[int, Any]:
        self.sent += 1
        return self.client.call(*args, **kwargs)

    def _unexpected(self, what: str, status: int, data: Any) -> None:
        with self.ledger.lock:
            self.ledger.unexpected.append(f"{what}: {status} {json.dumps(data, ensure_ascii=False)[:300]}")

    # creation --------------------------------------------------------------------------------------

    def _create(self, key: str, body: dict[str, Any], *, abandon: bool = False) -> tuple[int, Any]:
        return self._call(
            "create_abandoned" if abandon else "create",
            "POST",
            "/api/v1/cases",
            self.actors.intake_token,
            body,
            {"Idempotency-Key": key},
            timeout=ABANDON_TIMEOUT if abandon else CLIENT_TIMEOUT,
        )

    def _remember(self, key: str, body: dict[str, Any], status: int, data: Any) -> str | None:
        if status not in (200, 201):
            self._unexpected(f"create {key}", status, data)
            return None
        number = data["case"]["number"]
        with self.ledger.lock:
            entry = self.ledger.creates.setdefault(
                key, {"number": number, "text": body["description"], "answers": []}
            )
            entry["answers"].append(status)
            if entry["number"] != number:
                self.ledger.replay_mismatches.append(f"{key}: {entry['number']} then {number}")
            if number not in self.ledger.numbers:
                self.ledger.numbers.append(number)
        return number

    def create(self) -> None:
        key = uuid.uuid4().hex
        body = _complaint(self.rng, key[:12])
        status, data = self._create(key, body)
        self._remember(key, body, status, data)

    def create_retry(self) -> None:
        """The answer was lost on the way back: the same request again, maybe more than once."""
        key = uuid.uuid4().hex
        body = _complaint(self.rng, key[:12])
        for _ in range(self.rng.choice([2, 2, 3])):
            status, data = self._create(key, body)
            self._remember(key, body, status, data)

    def create_abandon(self) -> None:
        """The client gives up before the answer (the server goes on), then retries with the same key."""
        key = uuid.uuid4().hex
        body = _complaint(self.rng, key[:12])
        status, data = self._create(key, body, abandon=True)
        if status:
            self._remember(key, body, status, data)
        if self.rng.random() < 0.5:
            time.sleep(self.rng.random() * 0.05)
        status, data = self._create(key, body)
        self._remember(key, body, status, data)

    # batch intake -----------------------------------------------------------------------------------

    def _batch(self, key: str, items: list[dict[str, Any]]) -> None:
        status, data = self._call(
            "batch",
            "POST",
            "/api/v1/intake/batch",
            self.actors.intake_token,
            {"items": items},
            {"Idempotency-Key": key},
        )
        if status != 200:
            self._unexpected(f"batch {key}", status, data)
            return
        with self.ledger.lock:
            for result, item in zip(data["results"], items, strict=True):
                if result["status"] not in ("created", "existing") or not result["number"]:
                    self.ledger.unexpected.append(f"batch item {item['external_id']}: {result}")
                    continue
                self.ledger.external[item["external_id"]].add(result["number"])
                if result["number"] not in self.ledger.numbers:
                    self.ledger.numbers.append(result["number"])

    def batch(self) -> None:
        key = uuid.uuid4().hex
        items = []
        for _ in range(self.rng.randint(2, 6)):
            item = _complaint(self.rng, f"批量{uuid.uuid4().hex[:10]}")
            item["external_source"] = "loadcheck"
            item["external_id"] = uuid.uuid4().hex[:20]
            items.append(item)
        self._batch(key, items)
        with self.ledger.lock:
            self.ledger.batches.append((key, items))
        if self.rng.random() < 0.3:
            self._batch(key, items)  # the same request again: the first answer

    def batch_resend(self) -> None:
        """Another system sends (part of) a batch again under a new key: the items exist already."""
        with self.ledger.lock:
            recent = self.ledger.batches[-8:]
        if not recent:
            return self.batch()
        _key, items = self.rng.choice(recent)
        self._batch(uuid.uuid4().hex, items[: self.rng.randint(1, len(items))])

    # lifecycle actions --------------------------------------------------------------------------------

    def _pick(self) -> str | None:
        with self.ledger.lock:
            numbers = self.ledger.numbers[-40:]
        return self.rng.choice(numbers) if numbers else None

    def _read(self, number: str) -> Any:
        status, data = self._call("read_case", "GET", f"/api/v1/cases/{number}", self.actors.manager_token)
        if status != 200:
            self._unexpected(f"read {number}", status, data)
            return None
        return data

    def _next_action(self, case: dict[str, Any]) -> tuple[str, str, dict[str, Any]] | None:
        note = f"{MARK}{uuid.uuid4().hex[:12]}"
        status = case["status"]
        if status == "registered":
            return "accept", self.actors.manager_token, {}
        if status == "accepted":
            return "assign", self.actors.manager_token, {"handler": self.actors.handler_id, "note": note}
        if status == "assigned":
            return "start_investigation", self.actors.handler_token, {"note": note}
        if status == "investigating":
            return "add_note", self.actors.handler_token, {"text": note}
        return None

    def _act(self, stale: bool) -> None:
        number = self._pick()
        if number is None:
            return self.create()
        case = self._read(number)
        if case is None:
            return
        step = self._next_action(case)
        if step is None:
            return
        action, token, data = step
        version = case["version"]
        expected = version
        if stale:
            expected = version - 1 if version > 1 else version + 1
        status, answer = self._call(
            "stale_action" if stale else "action",
            "POST",
            f"/api/v1/cases/{number}/{action}",
            token,
            {**data, "expected_version": expected},
        )
        note = data.get("note") or data.get("text") or ""
        with self.ledger.lock:
            if status == 200:
                self.ledger.acted[number] += 1
                self.ledger.acted_events.append((number, answer["event"]["seq"], action))
                if stale:
                    self.ledger.unexpected.append(f"stale {action} on {number} v{expected} accepted")
            elif status == 409:
                self.ledger.conflicts.append((number, note, expected))
            elif status == 0:
                self.ledger.unanswered_actions[number] += 1
            else:
                self.ledger.unexpected.append(
                    f"{action} {number}: {status} {json.dumps(answer, ensure_ascii=False)[:300]}"
                )

    def action(self) -> None:
        self._act(stale=False)

    def stale_action(self) -> None:
        self._act(stale=True)

    # reads ----------------------------------------------------------------------------------------------

    def read_list(self) -> None:
        path = (
            "/api/v1/cases?limit=20&open_only=true" if self.rng.random() < 0.5 else "/api/v1/cases?limit=50"
        )
        status, data = self._call("read_list", "GET", path, self.actors.manager_token)
        if status != 200:
            self._unexpected("list", status, data)

    def read_case(self) -> None:
        number = self._pick()
        if number is None:
            return self.read_list()
        self._read(number)


def warm_up(port: int, actors: Actors, connections: int) -> None:
    """Concurrent reads so that every worker thread has connected and built its caches (not counted)."""

    def read() -> None:
        Client(port, Ledger()).call("warm_up", "GET", "/api/v1/cases?limit=5", actors.manager_token)

    pool = [threading.Thread(target=read) for _ in range(connections)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()


def run_load(port: int | list[int], actors: Actors, *, threads: int, requests: int, seed: int = 8) -> Ledger:
    """`threads` clients each sending `requests` requests (stops by itself); with several ports (app
    servers) the clients are spread over them, as a load balancer would."""
    ledger = Ledger()
    ports = port if isinstance(port, list) else [port]
    workers = [Worker(i, ports[i % len(ports)], actors, ledger, requests, seed) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    errors = [f"{w.name}: {w.error!r}" for w in workers if w.error is not None]
    ledger.unexpected.extend(errors)
    return ledger


# --- verification -------------------------------------------------------------------------------------


def percentile(samples: list[float], p: float) -> float:
    if not samples:
        return 0.0
    ordered = sorted(samples)
    index = max(0, min(len(ordered) - 1, int(round(p / 100 * len(ordered) + 0.5)) - 1))
    return ordered[index]


def summarize(ledger: Ledger, seconds: float) -> dict[str, Any]:
    latencies = [c.seconds for c in ledger.calls if c.status]
    by_op: dict[str, dict[str, Any]] = {}
    for op in sorted({c.op for c in ledger.calls}):
        calls = [c for c in ledger.calls if c.op == op]
        answered = [c.seconds for c in calls if c.status]
        by_op[op] = {
            "requests": len(calls),
            "statuses": dict(sorted(Counter(str(c.status) for c in calls).items())),
            "p50_ms": round(statistics.median(answered) * 1000, 1) if answered else None,
            "p95_ms": round(percentile(answered, 95) * 1000, 1) if answered else None,
            "max_ms": round(max(answered) * 1000, 1) if answered else None,
        }
    return {
        "requests": len(ledger.calls),
        "seconds": round(seconds, 2),
        "requests_per_second": round(len(ledger.calls) / seconds, 1) if seconds else None,
        "statuses": dict(sorted(Counter(str(c.status) for c in ledger.calls).items())),
        "conflict_codes": dict(Counter(c.code for c in ledger.calls if c.status == 409)),
        "p50_ms": round(statistics.median(latencies) * 1000, 1) if latencies else None,
        "p95_ms": round(percentile(latencies, 95) * 1000, 1) if latencies else None,
        "max_ms": round(max(latencies) * 1000, 1) if latencies else None,
        "by_op": by_op,
        "logical_creates": len(ledger.creates),
        "batch_items": len(ledger.external),
        "actions_ok": sum(ledger.acted.values()),
        "conflicts": len(ledger.conflicts),
    }


def verify(ledger: Ledger, actors: Actors) -> dict[str, Any]:
    """Compare what the clients were told with the database. `problems` is empty when nothing was lost,
    doubled or changed by a refused request."""
    from kesu.cases.models import Case, CaseEvent, DailySequence, IdempotencyRecord
    from kesu.trust import audit

    problems: list[str] = []

    def problem(text: str) -> None:
        if len(problems) < 50:
            problems.append(text)

    five_xx = [c for c in ledger.calls if c.status >= 500]
    for c in five_xx[:10]:
        problem(f"{c.status} on {c.method} {c.path}")
    for text in ledger.unexpected[:20]:
        problem(f"unexpected answer: {text}")
    for text in ledger.replay_mismatches:
        problem(f"a retry got another case: {text}")

    cases = {
        c["number"]: c
        for c in Case.objects.values("pk", "number", "status", "version", "description", "external_id")
    }
    # 1. every acknowledged create exists exactly once
    texts = Counter(c["description"] for c in cases.values())
    keys = dict(IdempotencyRecord.objects.filter(user_id=actors.intake_id).values_list("key", "case__number"))
    for key, entry in ledger.creates.items():
        if entry["number"] not in cases:
            problem(f"lost: create {key} answered {entry['number']}, not in the database")
        if texts[entry["text"]] != 1:
            problem(f"create {key}: {texts[entry['text']]} cases with its text")
        if keys.get(key) != entry["number"]:
            problem(f"create {key}: idempotency record → {keys.get(key)}, answered {entry['number']}")
        if entry["answers"].count(201) > 1:
            problem(f"create {key}: answered 201 twice")
    by_external = Counter(c["external_id"] for c in cases.values() if c["external_id"])
    for external_id, numbers in ledger.external.items():
        if len(numbers) != 1:
            problem(f"external id {external_id}: answered with several numbers {sorted(numbers)}")
        if by_external[external_id] != 1:
            problem(f"external id {external_id}: {by_external[external_id]} cases")
        for number in numbers:
            if number not in cases:
                problem(f"lost: batch item {external_id} answered {number}, not in the database")
    acknowledged = {e["number"] for e in ledger.creates.values()} | {
        n for numbers in ledger.external.values() for n in numbers
    }
    for number in sorted(set(cases) - acknowledged)[:10]:
        problem(f"doubled or stray: case {number} was never acknowledged to a client")

    # 2. timelines: seq 1..version, register first, status = last event's to_status
    events: dict[int, list[tuple[int, str, str, str]]] = defaultdict(list)
    for row in CaseEvent.objects.order_by("case_id", "seq").values_list(
        "case_id", "seq", "action", "to_status", "payload"
    ):
        case_id, seq, action, to_status, payload = row
        note = ""
        if isinstance(payload, dict):
            note = str(payload.get("note") or payload.get("text") or "")
        events[case_id].append((seq, action, to_status, note))
    notes_applied = set()
    for number, c in cases.items():
        timeline = events.get(c["pk"], [])
        seqs = [e[0] for e in timeline]
        if seqs != list(range(1, c["version"] + 1)):
            problem(f"{number}: event seqs {seqs[:12]} for version {c['version']}")
        if not timeline or timeline[0][1] != "register":
            problem(f"{number}: the first event is not the registration")
        elif timeline[-1][2] != c["status"]:
            problem(f"{number}: status {c['status']} but the last event leads to {timeline[-1][2]}")
        # every action answered 200 is there, and nothing else (a refused request left nothing behind)
        answered, unknown = ledger.acted[number], ledger.unanswered_actions[number]
        if not answered + 1 <= len(timeline) <= answered + unknown + 1:
            problem(f"{number}: {len(timeline)} events, but 1 + {answered} actions were acknowledged")
        notes_applied.update(e[3] for e in timeline if e[3])
    by_pk = {c["number"]: c["pk"] for c in cases.values()}
    for number, seq, action in ledger.acted_events:
        timeline = events.get(by_pk.get(number, -1), [])
        if not any(e[0] == seq and e[1] == action for e in timeline):
            problem(f"{number}: acknowledged {action} as event {seq}, not in the timeline")
    for number, note, expected in ledger.conflicts:
        if note and note in notes_applied:
            problem(f"{number}: a request refused with 409 (expected_version {expected}) was applied")

    # 3. numbers per day: unique (the column is unique) and gap-free, and the counter agrees
    per_day: dict[str, list[int]] = defaultdict(list)
    for number in cases:
        match = re.fullmatch(r"([A-Z]+\d{8})(\d{4,})", number)
        if match is None:
            problem(f"malformed case number {number}")
            continue
        per_day[match.group(1)].append(int(match.group(2)))
    counters = {f"{d:%Y%m%d}": last for d, last in DailySequence.objects.values_list("day", "last")}
    for prefix, seqs in per_day.items():
        if sorted(seqs) != list(range(1, len(seqs) + 1)):
            missing = sorted(set(range(1, max(seqs) + 1)) - set(seqs))[:10]
            problem(f"{prefix}: case numbers not gap-free (missing {missing})")
        if counters.get(prefix[-8:]) != max(seqs):
            problem(f"{prefix}: day counter {counters.get(prefix[-8:])}, highest number {max(seqs)}")

    # 4. the audit chain survived concurrent appends
    chain = audit.verify()
    if not chain.ok:
        problem(f"audit chain: {chain}")

    return {
        "ok": not problems,
        "problems": problems,
        "cases": len(cases),
        "events": sum(len(v) for v in events.values()),
        "five_xx": len(five_xx),
        "audit_entries": chain.checked,
        "days": len(per_day),
    }


def run_check(
    database_url: str,
    *,
    threads: int = 8,
    requests: int = 25,
    workers: int = 3,
    server_threads: int = 4,
    seed: int = 8,
    log_dir: Path | None = None,
    background: bool = True,
    app_servers: int = 1,
    settings: str = "kesu.settings",
) -> dict[str, Any]:
    """Prepare (Django must be set up on `database_url`), serve (with the task worker and the scheduler
    unless `background` is false; `app_servers` gunicorn instances, as on that many hosts), load, stop
    everything, verify. Returns the report."""
    import contextlib

    actors = prepare()
    log_dir = log_dir or Path(tempfile.mkdtemp(prefix="kesu-load-"))
    server = Server(
        database_url,
        workers=workers,
        threads=server_threads,
        log_dir=log_dir,
        background=background,
        settings=settings,
    )
    others = [
        Server(
            database_url,
            workers=workers,
            threads=server_threads,
            log_dir=log_dir,
            background=False,
            db_tasks=background,
            name=f"server-{n + 2}",
            settings=settings,
        )
        for n in range(app_servers - 1)
    ]
    with contextlib.ExitStack() as stack:
        for s in (server, *others):
            stack.enter_context(s)
        ports = [s.port for s in (server, *others)]
        for port in ports:
            warm_up(port, actors, 2 * workers * server_threads)
        meter = CpuMeter(server, others)
        started = time.perf_counter()
        ledger = run_load(ports, actors, threads=threads, requests=requests, seed=seed)
        took = time.perf_counter() - started
        cpu = meter.stop(len(ledger.calls))
        server_log = "".join(s.log_tail(3000) for s in (server, *others))
    summary = summarize(ledger, took)
    verification = verify(ledger, actors)
    processes = background_summary(server) if background else {}
    for name, info in processes.get("processes", {}).items():
        if not info["running_at_end"]:
            verification["problems"].append(f"the {name} exited during the load: {info['log_tail'][-500:]}")
            verification["ok"] = False
    return {
        "server": {
            "kind": server.kind,
            "workers": workers,
            "threads": server_threads,
            "app_servers": app_servers,
            "settings": settings,
            "background": sorted(BACKGROUND) if background else [],
        },
        "clients": {"threads": threads, "requests_each": requests},
        "summary": summary,
        "cpu": cpu,
        "errors": {
            "five_xx": verification["five_xx"],
            "no_answer": summary["statuses"].get("0", 0),
            "unexpected_answers": len(ledger.unexpected),
            "failed_tasks": processes.get("tasks", {}).get("FAILED", 0),
        },
        "background": processes,
        "verification": verification,
        "server_log_tail": server_log if not verification["ok"] else "",
    }


class CpuMeter:
    """CPU seconds spent during the load by each side, from /proc: the app servers (gunicorn masters and
    workers), the background processes (task worker, scheduler), the PostgreSQL server (postmaster and
    backends; none on SQLite, which runs inside the other processes), the clients (this process) and
    the rest of the machine. On the shared 2-core host requests/s moves with the other sessions' load;
    CPU per request does not, and it bounds what the machine could serve: cores ÷ CPU per request."""

    def __init__(self, server: Server, others: list[Server]) -> None:
        from django.db import connection

        self.servers = [s.process.pid for s in (server, *others) if s.process is not None]
        self.background = [p.pid for p in server.background_processes.values()]
        self.backend_pid = None
        if connection.vendor == "postgresql":
            connection.ensure_connection()
            self.backend_pid = connection.connection.info.backend_pid
        self.start = self._sample()

    def _sample(self) -> dict[str, Any]:
        db = postgres_server_cpu_s(self.backend_pid) if self.backend_pid else None
        return {
            "servers": process_tree_cpu_s(self.servers),
            "background": process_tree_cpu_s(self.background),
            "database": db or 0.0,
            "clients": time.process_time(),
            "machine": machine_cpu_s(),
            "load": [round(x, 2) for x in os.getloadavg()],
        }

    def stop(self, requests: int) -> dict[str, Any]:
        end = self._sample()
        spent = {
            k: round(end[k] - self.start[k], 2) for k in ("servers", "background", "database", "clients")
        }
        busy = end["machine"] - self.start["machine"]
        spent["other_processes"] = round(max(0.0, busy - sum(spent.values())), 2)
        server_side = spent["servers"] + spent["background"] + spent["database"]
        per = {k: round(v * 1000 / requests, 2) for k, v in spent.items()} if requests else {}
        cores = os.cpu_count() or 1
        return {
            "seconds": spent,
            "ms_per_request": per,
            "server_side_ms_per_request": round(server_side * 1000 / requests, 2) if requests else None,
            # What this host could serve if the servers had every core: cores ÷ server-side CPU per request.
            "server_capacity_rps": round(cores * requests / server_side, 1) if server_side else None,
            "cores": cores,
            "load_average_before": self.start["load"],
            "load_average_after": end["load"],
        }


def background_summary(server: Server) -> dict[str, Any]:
    """How the worker and the scheduler fared: running until stopped, and the tasks by status at the end
    (what the web processes and the scheduler enqueued; the worker may not have caught up with all)."""
    from django.db.models import Count
    from django_tasks_db.models import DBTaskResult

    def count_by(column: str) -> dict[str, int]:
        rows = DBTaskResult.objects.values(column).annotate(n=Count("id")).order_by(column)
        return {row[column]: row["n"] for row in rows}

    tasks, by_task = count_by("status"), count_by("task_path")
    return {"processes": server.background_report, "tasks": tasks, "tasks_by_path": by_task}


def format_report(report: dict[str, Any]) -> str:
    s, v = report["summary"], report["verification"]
    lines = [
        f"load check: {s['requests']} requests in {s['seconds']} s ({s['requests_per_second']}/s) "
        f"against {report['server']['kind']} ×{report['server']['workers']}",
        f"  statuses {s['statuses']}  409 codes {s['conflict_codes']}",
        f"  latency p50 {s['p50_ms']} ms  p95 {s['p95_ms']} ms  max {s['max_ms']} ms",
        f"  CPU ms per request {report['cpu']['ms_per_request']} (server side "
        f"{report['cpu']['server_side_ms_per_request']}: at most {report['cpu']['server_capacity_rps']} "
        f"requests/s on {report['cpu']['cores']} cores); load average {report['cpu']['load_average_before']} "
        f"→ {report['cpu']['load_average_after']}",
        f"  creates {s['logical_creates']}, batch items {s['batch_items']}, actions ok {s['actions_ok']}, "
        f"conflicts {s['conflicts']}",
        f"  database: {v['cases']} cases, {v['events']} events, {v['audit_entries']} audit entries",
        f"  errors {report['errors']}",
        *([f"  background: tasks by status {report['background']['tasks']}"] if report["background"] else []),
        "  verification: " + ("nothing lost, nothing doubled" if v["ok"] else "FAILED"),
    ]
    lines += [f"    - {p}" for p in v["problems"]]
    return "\n".join(lines)


# --- command line ------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Kesu no-loss load check")
    parser.add_argument("--database-url", required=True, help="a throwaway database (it is flushed)")
    parser.add_argument("--migrate", action="store_true", help="migrate it first (an empty database)")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--requests", type=int, default=25, help="requests per client thread")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn worker processes")
    parser.add_argument("--server-threads", type=int, default=4)
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument(
        "--no-background", action="store_true", help="without the task worker and the scheduler processes"
    )
    parser.add_argument(
        "--settings",
        default="kesu.settings",
        help="the servers' settings (kesu.settings_production: as deployed)",
    )
    parser.add_argument("--json", help="write the report here")
    args = parser.parse_args(argv)

    os.environ["KESU_DATABASE_URL"] = args.database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kesu.settings")
    os.environ.setdefault("KESU_LOG_LEVEL", "WARNING")
    if str(BASE_DIR) not in sys.path:
        sys.path.insert(0, str(BASE_DIR))
    import django

    django.setup()
    from django.core.management import call_command

    if args.migrate:
        call_command("migrate", verbosity=0, interactive=False)
    else:
        call_command("flush", verbosity=0, interactive=False)
    try:
        report = run_check(
            args.database_url,
            threads=args.threads,
            requests=args.requests,
            workers=args.workers,
            server_threads=args.server_threads,
            seed=args.seed,
            background=not args.no_background,
            settings=args.settings,
        )
    except ServerDidNotStart as exc:
        print(f"server did not start: {exc}", file=sys.stderr)
        return 3
    if args.json:
        Path(args.json).write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    print(format_report(report))
    return 0 if report["verification"]["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
