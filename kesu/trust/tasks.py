"""Background tasks of the trust app (Django tasks API; `manage.py db_worker` runs them)."""

from __future__ import annotations

from django_tasks import task

from kesu.trust import anchor


@task()
def anchor_chain_heads() -> dict:
    """Log and mail the audit chain head and the digest of the case-event heads (kesu.trust.anchor)."""
    return anchor.publish()


def enqueue_anchor():
    """The scheduler's periodic job (settings.KESU_PERIODIC_JOBS)."""
    return anchor_chain_heads.enqueue()
