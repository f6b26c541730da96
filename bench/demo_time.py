"""`make demo` from a fresh clone to the first page, step by step: CPU and wall seconds (issue 19).

    python3 bench/demo_time.py                          # clones this checkout's HEAD to /tmp/kesu-demo-time
    python3 bench/demo_time.py --src /path/to/repo --dest /tmp/x --port 8765 --label base
    python3 bench/demo_time.py --out bench/results/speed20/demo-time-analytics20.json

What `make demo` does, as separate steps so each is timed on its own (the same targets and commands,
in the same order; a fresh clone has no .venv, node_modules or database, so nothing is skipped):
`make install-app` (a new .venv, the project and its runtime dependencies from pip's cache), `make
assets` (npm ci from npm's cache, the vendored files), `make migrate` (every migration on a new SQLite
database), the demo data `make demo` loads before serving (`demo_data --first N`), then `make serve`
until `GET /` answers 200 (redirects followed), then the server and its task worker are stopped.

CPU = user + system seconds of the step's processes and all their children (getrusage of the reaped
children); for the server, the CPU its processes used until the first 200 (read from /proc before
stopping them). Wall seconds move with the machine's load (recorded before and after): on a shared
machine compare CPU. The machine is shared: run this rarely (each run installs a venv and loads data).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLK = os.sysconf("SC_CLK_TCK")


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _step(name: str, cmd: list[str], cwd: Path, log: Path, env: dict[str, str]) -> dict:
    c0, t0 = _children_cpu(), time.perf_counter()
    with log.open("w") as out:
        rc = subprocess.run(cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, env=env).returncode
    step = {
        "cmd": " ".join(cmd),
        "rc": rc,
        "wall_s": round(time.perf_counter() - t0, 1),
        "cpu_s": round(_children_cpu() - c0, 2),
    }
    print(f"[{time.strftime('%H:%M:%S')}] {name}: {step}", flush=True)
    if rc != 0:
        raise SystemExit(f"{name} failed (rc {rc}); see {log}")
    return step


def _session_cpu(sid: int) -> float:
    """CPU seconds of the live processes of session `sid` (the server and its worker)."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid:  # field 6 of stat: the session id
            total += int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])
    return total / CLK


def _first_page(cwd: Path, port: int, log: Path, env: dict[str, str], timeout: float) -> dict:
    t0 = time.perf_counter()
    with log.open("w") as out:
        server = subprocess.Popen(
            ["make", "serve", "HOST=127.0.0.1", f"PORT={port}"],
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    status, cpu = None, 0.0
    try:
        while time.perf_counter() - t0 < timeout:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=30) as r:
                    status = r.status
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                status = None
            if status == 200:
                break
            time.sleep(0.25)
        cpu = _session_cpu(server.pid)
    finally:
        wall = time.perf_counter() - t0
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
    step = {
        "cmd": f"make serve PORT={port}",
        "http": status,
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu, 2),
    }
    print(f"[{time.strftime('%H:%M:%S')}] first page: {step}", flush=True)
    return step


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--src", default=str(ROOT), help="the repository to clone (its HEAD)")
    parser.add_argument("--dest", default="/tmp/kesu-demo-time", help="the clone (removed first)")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--first", default="", help="DEMO_FIRST (default: the Makefile's)")
    parser.add_argument("--label", default="")
    parser.add_argument("--out", default="", help="JSON result (default: print only)")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for the first page")
    args = parser.parse_args()
    dest = Path(args.dest)
    shutil.rmtree(dest, ignore_errors=True)
    logs = Path(str(dest) + "-logs")
    shutil.rmtree(logs, ignore_errors=True)
    logs.mkdir(parents=True)
    # The clone's own state only: no project venv, database or settings leak in from this shell.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KESU_", "VIRTUAL_ENV", "DJANGO_"))}
    load_before, started = _load(), time.perf_counter()
    steps: dict[str, dict] = {}
    steps["clone"] = _step(
        "clone", ["git", "clone", "-q", args.src, str(dest)], Path("/tmp"), logs / "clone.log", env
    )
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=dest, capture_output=True, text=True)
    makefile = (dest / "Makefile").read_text()
    first = args.first or next(
        (
            line.split("?=", 1)[1].strip()
            for line in makefile.splitlines()
            if line.startswith("DEMO_FIRST ?=")
        ),
        "",
    )
    steps["install"] = _step("install", ["make", "install-app"], dest, logs / "install.log", env)
    steps["assets"] = _step("assets", ["make", "assets"], dest, logs / "assets.log", env)
    steps["migrate"] = _step("migrate", ["make", "migrate"], dest, logs / "migrate.log", env)
    demo = [".venv/bin/python", "manage.py", "demo_data", "--skip-checks", "--preset", "insurance"]
    if first and first != "0":
        demo += ["--first", first]
    steps["demo_data"] = _step("demo_data", demo, dest, logs / "demo_data.log", env)
    steps["first_page"] = _first_page(dest, args.port, logs / "serve.log", env, args.timeout)
    doc = {
        "name": "demo-time",
        "label": args.label,
        "src": args.src,
        "commit": commit.stdout.strip(),
        "demo_first": first,
        "steps": steps,
        "cpu_s_total": round(sum(s["cpu_s"] for s in steps.values()), 1),
        "wall_s_total": round(time.perf_counter() - started, 1),
        "load_before": load_before,
        "load_after": _load(),
        "cpus": os.cpu_count(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "logs": str(logs),
    }
    print(json.dumps(doc, indent=1, ensure_ascii=False))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
