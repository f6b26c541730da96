"""Rate limits hold across gunicorn workers: the counters live in the shared database cache.

With each process's own memory (Django's default LocMem cache) every worker counted for itself, and two
workers let 2N requests through a limit of N. Here gunicorn runs `kesu.wsgi` with 2 worker processes
on 127.0.0.1 against a copy of the migrated test database; concurrent clients post the portal's
progress check (CHECK_IP_LIMIT per IP) more often than the limit, on fresh connections so that both
workers answer (the access log names the worker's pid), and exactly the limit gets through.
"""

from __future__ import annotations

import http.client
import subprocess
import sys
import threading
import time
from collections import Counter
from http.cookies import SimpleCookie
from urllib.parse import urlencode

import pytest

from kesu.web.portal import CHECK_IP_LIMIT
from tests.servers import HOST, ROOT, copy_of_test_database, free_port, process_env, wait_until_answering

CLIENTS = 6


def _csrf(port: int) -> str:
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    conn.request("GET", "/portal/progress/")
    response = conn.getresponse()
    response.read()
    conn.close()
    assert response.status == 200
    cookie = SimpleCookie(response.getheader("Set-Cookie"))
    return cookie["csrftoken"].value


def _check_progress(port: int, token: str, i: int) -> int:
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    body = urlencode({"number": f"TS20260101{i:04d}", "phone_last4": "1234"})
    conn.request(
        "POST",
        "/portal/progress/",
        body=body,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": f"csrftoken={token}",
            "X-CSRFToken": token,
            "Connection": "close",
        },
    )
    response = conn.getresponse()
    response.read()
    conn.close()
    return response.status


def _until_both_workers_answer(port: int, access_log, timeout: float = 90.0) -> None:
    """On a loaded machine the second worker may still be booting when the first answers: warm up with
    concurrent page loads (not rate limited) until the access log names two worker pids."""
    deadline = time.monotonic() + timeout

    def load() -> None:
        conn = http.client.HTTPConnection(HOST, port, timeout=30)
        conn.request("GET", "/portal/", headers={"Connection": "close"})
        conn.getresponse().read()
        conn.close()

    while time.monotonic() < deadline:
        threads = [threading.Thread(target=load) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        pids = {
            line.split()[0] for line in access_log.read_text().splitlines() if " GET /portal/ " in f" {line} "
        }
        if len(pids) >= 2:
            return
        time.sleep(0.5)


@pytest.mark.slow
def test_the_portal_rate_limit_holds_across_two_gunicorn_workers(transactional_db, tmp_path):
    limit = CHECK_IP_LIMIT[0]
    attempts = limit + 12
    url, drop = copy_of_test_database(tmp_path)
    port = free_port()
    access_log = tmp_path / "access.log"
    server_log = tmp_path / "server.log"
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "kesu.wsgi:application",
        "--bind",
        f"{HOST}:{port}",
        "--workers",
        "2",
        "--timeout",
        "60",
        "--graceful-timeout",
        "5",
        "--access-logfile",
        str(access_log),
        "--access-logformat",
        "%(p)s %(m)s %(U)s %(s)s",
    ]
    statuses: list[int] = []
    errors: list[BaseException] = []
    with open(server_log, "wb") as log:
        server = subprocess.Popen(
            command, cwd=ROOT, env=process_env(url, tmp_path), stdout=log, stderr=subprocess.STDOUT
        )
    try:
        assert wait_until_answering(port, lambda: server.poll() is None, path="/portal/"), (
            server_log.read_text(errors="replace")[-3000:]
        )
        _until_both_workers_answer(port, access_log)
        token = _csrf(port)
        numbers = iter(range(attempts))
        lock = threading.Lock()

        def client() -> None:
            try:
                while True:
                    with lock:
                        i = next(numbers, None)
                    if i is None:
                        return
                    status = _check_progress(port, token, i)
                    with lock:
                        statuses.append(status)
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        drop()
    assert not errors, errors
    served_by = Counter(
        line.split()[0]
        for line in access_log.read_text().splitlines()
        if " POST /portal/progress/ " in f" {line} "
    )
    # Both workers answered progress checks, so a per-process count would have let more through.
    assert len(served_by) == 2, (served_by, server_log.read_text(errors="replace")[-3000:])
    assert Counter(statuses) == {200: limit, 429: attempts - limit}, (
        Counter(statuses),
        server_log.read_text(errors="replace")[-6000:],
    )
