"""Background tasks of the trust app (Django tasks API; `manage.py db_worker` runs them)."""

from __future__ import annotations

from django.db import connection
from django_tasks import task

from kesu.trust import anchor


@task()
def anchor_chain_heads() -> dict:
    """Log and mail the audit chain head and the digest of the case-event heads (kesu.trust.anchor)."""
    return anchor.publish()


def enqueue_anchor():
    """The scheduler's periodic job (settings.KESU_PERIODIC_JOBS)."""
    return anchor_chain_heads.enqueue()


@task()
def optimize_database() -> str:
    """SQLite keeps no statistics of its own: without them its planner guesses, and with stale ones it
    picked a plan that sorted every open case for each page of the API queue. `PRAGMA optimize`
    analyses the tables whose statistics are missing or out of date (cheap when nothing changed).
    PostgreSQL's autovacuum keeps its statistics itself."""
    if connection.vendor != "sqlite":
        return "skipped"
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA optimize")
    return "optimized"


def enqueue_optimize_database():
    """The scheduler's periodic job (settings.KESU_PERIODIC_JOBS)."""
    return optimize_database.enqueue()
