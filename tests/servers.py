"""Helpers for tests that run Kesu in real processes (gunicorn, `kesu serve`) on 127.0.0.1.

The processes need a migrated database of their own that they can open: a copy of the (migrated, empty)
test database — a SQLite file, or on PostgreSQL a database made from the test database as template.
"""

from __future__ import annotations

import http.client
import os
import socket
import sqlite3
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def copy_of_test_database(tmp_path: Path) -> tuple[str, Callable[[], None]]:
    """A URL of a throwaway copy of the migrated test database, and a clean-up (needs transactional_db)."""
    if connection.vendor == "sqlite":
        target = tmp_path / "copy.sqlite3"
        connection.ensure_connection()
        with sqlite3.connect(target) as dst:
            connection.connection.backup(dst)
        dst.close()
        return f"sqlite:///{target}", lambda: None
    settings = connection.settings_dict
    name = f"kesu_copy_{uuid.uuid4().hex[:8]}"
    template = settings["NAME"]
    # CREATE DATABASE … TEMPLATE needs the template without sessions: close ours first.
    connection.close()
    import psycopg

    params = {
        "host": settings["HOST"] or "127.0.0.1",
        "port": settings["PORT"] or 5432,
        "user": settings["USER"],
        "password": settings.get("PASSWORD") or None,
        "dbname": "postgres",
        "autocommit": True,
    }
    with psycopg.connect(**params) as admin:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    url = f"postgresql://{params['user']}:{settings.get('PASSWORD') or ''}@{params['host']}:{params['port']}/{name}"

    def drop() -> None:
        with psycopg.connect(**params) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return url, drop


def process_env(database_url: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "KESU_DATABASE_URL": database_url,
        "DJANGO_SETTINGS_MODULE": "kesu.settings",
        "KESU_VAR_DIR": str(tmp_path / "var"),
        "KESU_LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


def wait_until_answering(
    port: int, alive: Callable[[], bool], *, path: str = "/login/", seconds: float = 90
) -> bool:
    """True once GET `path` gets any HTTP answer; False when `alive()` turns false or time runs out."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not alive():
            return False
        try:
            conn = http.client.HTTPConnection(HOST, port, timeout=5)
            conn.request("GET", path)
            conn.getresponse().read()
            conn.close()
            return True
        except OSError:
            time.sleep(0.2)
    return False


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, parent pid) of a process from /proc, or None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()  # the command name, in parentheses, may hold spaces
    return fields[0], int(fields[1])


def children_of(pid: int) -> list[int]:
    """Live (not zombie) child processes of `pid`, read from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = _stat(int(entry.name))
            if stat is not None and stat[1] == pid and stat[0] != "Z":
                found.append(int(entry.name))
    return sorted(found)


def running(pid: int) -> bool:
    stat = _stat(pid)
    return stat is not None and stat[0] != "Z"
