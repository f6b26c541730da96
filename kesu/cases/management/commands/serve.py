"""`kesu serve [--host 127.0.0.1] [--port 8000] [--no-worker]`: the embedded server for the demo.

Runs Django's development server (static files included, no autoreload) and, unless told not to,
the background task worker (`kesu worker`) and the scheduler of periodic jobs (`kesu scheduler`:
deadline sweep, surge checks, reports) as child processes that stop with the server.
For production, run a WSGI server (kesu.wsgi), `kesu worker` and `kesu scheduler` under a process
supervisor (docs/deploy.md, deploy/*.service).

The children stop with the server however it stops: Ctrl-C (SIGINT, which the terminal also sends to
the children, as they stay in the server's process group), SIGTERM (from systemd, `kill`, a container
runtime: handled like Ctrl-C, the children are terminated, awaited and killed after CHILD_STOP_SECONDS),
and on Linux even SIGKILL of the server (the kernel sends the children SIGTERM when their parent dies).
They import no Kesu app: this command starts them as `python -m django <command>`.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Callable

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

CHILD_STOP_SECONDS = 10
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _die_with_parent(parent_pid: int) -> Callable[[], None] | None:
    """A `preexec_fn` asking the kernel to send the child SIGTERM when the server dies (Linux only)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None

    def preexec() -> None:
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        # The server died between fork and prctl: the signal will never come, so leave now.
        if os.getppid() != parent_pid:
            os._exit(0)

    return preexec


def _interrupt(signum: int, frame) -> None:
    # runserver answers KeyboardInterrupt by exiting (sys.exit), which runs handle()'s `finally`.
    raise KeyboardInterrupt


def stop_children(children: list[subprocess.Popen], timeout: float = CHILD_STOP_SECONDS) -> None:
    """SIGTERM to every child still running, then wait for each; SIGKILL after `timeout` seconds."""
    for child in children:
        if child.poll() is None:
            child.terminate()
    for child in children:
        try:
            child.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


class Command(BaseCommand):
    help = "Serve Kesu at http://127.0.0.1:8000 with the background task worker"

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("KESU_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("KESU_PORT", "8000")))
        parser.add_argument("--no-worker", action="store_true", help="do not start the task worker")

    def handle(self, *args, host: str, port: int, no_worker: bool, **options):
        children: list[subprocess.Popen] = []
        previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            uses_db_tasks = "django_tasks_db" in settings.TASKS.get("default", {}).get("BACKEND", "")
            if not no_worker and uses_db_tasks:
                self._start_children(children)
            self.stdout.write(self.style.SUCCESS(f"Kesu 客诉: http://{host}:{port}/  (Ctrl-C 停止)"))
            call_command("runserver", f"{host}:{port}", use_reloader=False, insecure_serving=True)
        except KeyboardInterrupt:
            pass
        finally:
            # A second SIGTERM while the children stop must not cut the clean-up short.
            for sig in previous:
                signal.signal(sig, signal.SIG_IGN)
            stop_children(children)
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _start_children(self, children: list[subprocess.Popen]) -> None:
        # Appends as it goes: a signal between two starts still stops the first child.
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "kesu.settings"),
        }
        for command, label in (
            ("worker", "任务进程 task worker"),
            ("scheduler", "定时任务 scheduler"),
        ):
            log_path = settings.VAR_DIR / f"{command}.log"
            with open(log_path, "ab") as log:  # the child keeps its own copy of the descriptor
                child = subprocess.Popen(
                    [sys.executable, "-m", "django", command],
                    env=env,
                    cwd=str(settings.BASE_DIR),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    preexec_fn=_die_with_parent(os.getpid()),  # no threads yet: safe
                )
            children.append(child)
            self.stdout.write(f"{label}: pid {child.pid}, log {log_path}")
