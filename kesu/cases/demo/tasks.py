"""The demo load's background part (Django tasks API; the worker `kesu serve` starts runs it).

`make demo` registers a sample of the planned complaints before serving and enqueues the first chunk
of the rest here; each chunk registers and walks its complaints through the real services (each
case in its own transaction, so the server's writes never wait long for SQLite's single writer) and
enqueues the next one. A chunk that runs twice finds its cases and skips them.
"""

from __future__ import annotations

import datetime as dt
import logging

from django_tasks import task

from kesu.cases.demo.company import ensure_org
from kesu.cases.demo.load import LoadReport, demo_plans, load_plans, split_first

log = logging.getLogger("kesu.demo")

CHUNK = 100
# Below the default (0): what people do in the demo meanwhile (notifications, reports) goes first.
PRIORITY = -10


@task(priority=PRIORITY)
def load_demo_chunk(count: int, seed: int, now: str, first: int, start: int = 0) -> dict:
    """Load plans [start, start + CHUNK) of those `split_first` left over, then enqueue the next chunk."""
    at = dt.datetime.fromisoformat(now)
    _head, rest = split_first(demo_plans(count, seed=seed, now=at), first)
    report = LoadReport()
    load_plans(rest[start : start + CHUNK], org=ensure_org(), seed=seed, now=at, report=report, batch=1)
    done = min(start + CHUNK, len(rest))
    log.info("demo data: %d/%d complaints of the background part loaded", done, len(rest))
    if done < len(rest):
        load_demo_chunk.enqueue(count, seed, now, first, done)
    return {"created": report.created, "existing": report.existing, "failed": report.failed, "done": done}


def enqueue_rest(count: int, seed: int, now: dt.datetime, first: int) -> None:
    """Leave the complaints `load_demo_cases(count, first=first)` did not load to the task worker."""
    load_demo_chunk.enqueue(count, seed, now.isoformat(), first, 0)
