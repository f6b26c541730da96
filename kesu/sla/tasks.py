"""Background tasks (Django tasks API; `kesu worker` runs them)."""

from __future__ import annotations

from django_tasks import task


@task()
def sweep_deadlines() -> dict:
    from kesu.sla.sweeper import sweep

    return sweep().as_dict()


@task()
def send_notification_email(notification_id: int) -> bool:
    from kesu.sla.notify import send_email

    return send_email(notification_id)


@task()
def send_notification_emails(notification_ids: list[int]) -> int:
    """The e-mails of a set of notifications (`notify_many`): one task per part of the set, not one
    per e-mail. One that fails does not stop the others; the catch-up job sends it later."""
    from kesu.sla.notify import send_emails

    return send_emails(notification_ids)


@task()
def deliver_webhook(delivery_id: int) -> str:
    from kesu.sla.notify import deliver

    return str(deliver(delivery_id))


@task()
def send_unsent_emails() -> int:
    from kesu.sla.notify import send_unsent_emails as send

    return send()


def enqueue_email_catch_up():
    """The scheduler's periodic job: e-mails of notifications whose own task was lost or failed."""
    return send_unsent_emails.enqueue()


def enqueue_sweep():
    """The scheduler's periodic job (settings.KESU_PERIODIC_JOBS)."""
    return sweep_deadlines.enqueue()


@task()
def send_daily_digests() -> int:
    from kesu.sla.digest import send_digests

    return send_digests()


def enqueue_digest():
    """The daily digest of held notifications (settings.KESU_PERIODIC_JOBS, "sla.digest")."""
    return send_daily_digests.enqueue()
