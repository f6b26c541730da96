"""`kesu serve` stops its task worker and scheduler with it.

Started as a process (`python manage.py serve --port <free>`) against a copy of the migrated test
database, it answers HTTP and has two children; after SIGTERM (what systemd, `kill` and container
runtimes send) none of them may be left running as an orphan.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from tests.servers import (
    ROOT,
    children_of,
    copy_of_test_database,
    free_port,
    process_env,
    running,
    wait_until_answering,
)


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_sigterm_stops_the_server_and_its_worker_and_scheduler(transactional_db, tmp_path):
    url, drop = copy_of_test_database(tmp_path)
    port = free_port()
    log_path = tmp_path / "serve.log"
    with open(log_path, "wb") as log:
        serve = subprocess.Popen(
            [sys.executable, "manage.py", "serve", "--port", str(port)],
            cwd=ROOT,
            env=process_env(url, tmp_path),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    children: list[int] = []
    try:
        assert wait_until_answering(port, lambda: serve.poll() is None), log_path.read_text(errors="replace")
        children = children_of(serve.pid)
        assert len(children) == 2, (children, log_path.read_text(errors="replace"))  # worker + scheduler

        serve.send_signal(signal.SIGTERM)
        serve.wait(timeout=20)
        deadline = time.monotonic() + 5
        while any(running(pid) for pid in children) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert [pid for pid in children if running(pid)] == [], log_path.read_text(errors="replace")
    finally:
        for pid in [serve.pid, *children]:
            if running(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        serve.wait(timeout=10)
        drop()
