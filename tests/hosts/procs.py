"""Kesu processes over one database for the multi-host tests: workers, schedulers, a query helper."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tests.servers import ROOT, process_env

# Short beats and leases so that a killed worker's task is taken over within seconds.
FAST_LEASES = {
    "KESU_WORKER_BEAT_SECONDS": "0.5",
    "KESU_WORKER_LEASE_SECONDS": "3",
    "KESU_TASKS_BACKEND": "django_tasks_db.DatabaseBackend",
}


def start(args: list[str], url: str, tmp_path: Path, log_name: str, **extra: str) -> subprocess.Popen:
    env = process_env(url, tmp_path, **FAST_LEASES, **extra)
    log = open(tmp_path / f"{log_name}.log", "ab")  # noqa: SIM115 - the child keeps its own descriptor
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "django", *args], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    finally:
        log.close()


def start_worker(url: str, tmp_path: Path, name: str, **extra: str) -> subprocess.Popen:
    return start(["worker", "--interval", "0.2", "--no-startup-delay"], url, tmp_path, name, **extra)


def stop(process: subprocess.Popen, timeout: float = 20) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def query(url: str, sql: str, params: tuple = ()) -> list[tuple]:
    """Rows of `sql` in the processes' database (SQLite file or PostgreSQL), outside Django's connection."""
    if url.startswith("sqlite:///"):
        with sqlite3.connect(url.removeprefix("sqlite:///"), timeout=20) as db:
            return db.execute(sql.replace("%s", "?"), params).fetchall()
    import psycopg

    with psycopg.connect(url, autocommit=True) as db:
        return db.execute(sql, params).fetchall()


def wait_for(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {seconds} s waiting for {what}")


def task_rows(url: str, task_path: str) -> list[dict]:
    rows = query(
        url,
        "SELECT id, status, worker_ids, return_value FROM django_tasks_database_dbtaskresult WHERE task_path = %s",
        (task_path,),
    )
    out = []
    for pk, status, worker_ids, value in rows:
        out.append(
            {
                "id": str(pk),
                "status": status,
                "worker_ids": decode(url, worker_ids),
                "return_value": decode(url, value),
            }
        )
    return out


def decode(url: str, value):
    """A JSON column: text on SQLite, already decoded by psycopg."""
    return json.loads(value) if url.startswith("sqlite") and value is not None else value


def lines(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


def env_pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def process_env_for(url: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    return process_env(url, tmp_path, **FAST_LEASES, **extra)
