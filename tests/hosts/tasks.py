"""Tasks for the tests that run real workers: they leave traces in files the test reads."""

from __future__ import annotations

import os
import time
from pathlib import Path

from django_tasks import task


@task()
def block_until_released(directory: str, name: str) -> str:
    """Record the start (with the worker's pid), wait for `<name>.release`, record the completion once.

    Completion is idempotent as a real task must be: a second run after a completed one adds nothing."""
    base = Path(directory)
    with open(base / f"{name}.started", "a") as fh:
        fh.write(f"{os.getpid()}\n")
    while not (base / f"{name}.release").exists():
        time.sleep(0.1)
    with open(base / f"{name}.done", "a") as fh:
        fh.write(f"{os.getpid()}\n")
    return name
