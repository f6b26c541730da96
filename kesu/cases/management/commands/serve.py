"""`kesu serve [--host 127.0.0.1] [--port 8000] [--no-worker]`: the embedded server for the demo.

Runs Django's development server (static files included, no autoreload) and, unless told not to,
the background task worker (`manage.py db_worker`) and the scheduler of periodic jobs (`kesu scheduler`:
deadline sweep, surge checks, reports) as child processes that stop with the server.
For production, run a WSGI server (kesu.wsgi), `kesu db_worker` and `kesu scheduler` under a process
supervisor.
"""

from __future__ import annotations

import os
import subprocess
import sys

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Serve Kesu at http://127.0.0.1:8000 with the background task worker"

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("KESU_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("KESU_PORT", "8000")))
        parser.add_argument("--no-worker", action="store_true", help="do not start the task worker")

    def handle(self, *args, host: str, port: int, no_worker: bool, **options):
        children: list[subprocess.Popen] = []
        uses_db_tasks = "django_tasks_db" in settings.TASKS.get("default", {}).get("BACKEND", "")
        if not no_worker and uses_db_tasks:
            env = {
                **os.environ,
                "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "kesu.settings"),
            }
            for command, label in (
                ("db_worker", "任务进程 task worker"),
                ("scheduler", "定时任务 scheduler"),
            ):
                log_path = settings.VAR_DIR / f"{command}.log"
                log = open(log_path, "ab")  # noqa: SIM115 - lives as long as the child
                child = subprocess.Popen(
                    [sys.executable, "-m", "django", command],
                    env=env,
                    cwd=str(settings.BASE_DIR),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
                children.append(child)
                self.stdout.write(f"{label}: pid {child.pid}, log {log_path}")
        self.stdout.write(self.style.SUCCESS(f"Kesu 客诉: http://{host}:{port}/  (Ctrl-C 停止)"))
        try:
            call_command("runserver", f"{host}:{port}", use_reloader=False, insecure_serving=True)
        finally:
            for child in children:
                if child.poll() is None:
                    child.terminate()
                    try:
                        child.wait(timeout=10)
                    except subprocess.TimeoutExpired:
                        child.kill()
