"""Notifications: in-app inbox, e-mail (Django's e-mail backend) and signed outbound webhooks.

`notify` is idempotent per `key`: the inbox entry, its e-mail and the webhook delivery are created
once; e-mails and webhooks are sent by background tasks after the transaction commits.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from kesu.sla import messages
from kesu.sla.models import (
    Notification,
    NotificationPreference,
    WebhookAttempt,
    WebhookDelivery,
    WebhookSubscription,
)

log = logging.getLogger("kesu.sla.notify")

MAX_ATTEMPTS = 5
BACKOFF_SECONDS = (30, 120, 600, 3600, 6 * 3600)
SIGNATURE_HEADER = "X-Kesu-Signature"
# How a kind is delivered when the user has not chosen (NotificationPreference): penalty proposals are
# a daily list for those who confirm them, not one message each; everything else at once.
DEFAULT_MODES = {"accountability.proposed": NotificationPreference.Mode.DIGEST}
TIMESTAMP_HEADER = "X-Kesu-Timestamp"
# A delivery's first attempt is its task's (enqueued on commit); the sweeper attempts one that was never
# tried only once this has passed (a lost task), like the e-mail catch-up.
FIRST_ATTEMPT_GRACE = dt.timedelta(minutes=5)
# `notify_many` sends the e-mails of a set by tasks of this many (a sweep tells thousands at once).
EMAILS_PER_TASK = 50


def notify(
    users,
    *,
    kind: str,
    message: str = "",
    params: dict[str, Any] | None = None,
    title: str = "",
    body: str = "",
    case=None,
    key: str,
    event: str | None = None,
    data: dict[str, Any] | None = None,
    now: dt.datetime | None = None,
) -> list[Notification]:
    """Inbox entry (+ e-mail) for each user and a webhook delivery per subscription, once per key.

    `message` (an id of kesu.sla.messages) and `params` are what is stored and said in each reader's
    language; `title`/`body` are then rendered in settings.LANGUAGE_CODE as the row's record. Without
    a message id, `title`/`body` are the words (text that is not the product's: none today)."""
    now = now or timezone.now()
    params = dict(params or {})
    if message:
        with translation.override(settings.LANGUAGE_CODE):
            title, body = messages.render(message, params, title, body)
    created: list[Notification] = []
    seen: set[int] = set()
    for user in users:
        if user is None or user.pk in seen:
            continue
        seen.add(user.pk)
        dedupe = f"{key}:u{user.pk}"[:200]
        held = delivery_mode(user, kind) == NotificationPreference.Mode.DIGEST
        # Once per key: the unique `dedupe_key` refuses a second row (no read before the insert: a
        # notification is new far more often than it is repeated).
        try:
            with transaction.atomic():
                n = Notification.objects.create(
                    user=user,
                    case=case,
                    kind=kind,
                    message_id=message,
                    params=params,
                    title=title[:200],
                    body=body,
                    created_at=now,
                    dedupe_key=dedupe,
                    held_for_digest=held,
                )
        except IntegrityError:
            continue
        created.append(n)
        if user.email and not held:
            transaction.on_commit(lambda pk=n.pk: _enqueue_email(pk))
    if event:
        publish(event, data or {}, key=key, now=now)
    return created


@dataclass
class Notice:
    """The arguments of one `notify` call, for `notify_many`."""

    users: Iterable
    kind: str
    key: str
    message: str = ""
    params: dict[str, Any] | None = None
    case: Any = None
    event: str | None = None
    data: dict[str, Any] | None = None


def notify_many(notices: Sequence[Notice], *, now: dt.datetime | None = None) -> list[Notification]:
    """`notify` for a set of notices in a fixed number of statements, whatever the set's size (the
    sweeper's chunk): the earlier keys, the recipients' delivery choices and the webhook subscriptions
    read once, the inbox entries and webhook deliveries inserted together. The same rows as `notify`
    per notice in the set's order: once per key and user, e-mails and webhooks after the commit.

    If a key was taken meanwhile by a writer outside the set's locks (the unique `dedupe_key`), the
    set is done again notice by notice through `notify`, which skips what exists."""
    now = now or timezone.now()
    planned: list[tuple[Notice, Any, str, dict[str, Any], str, str]] = []
    # Rendered once per notice, in one language switch for the set (the stored record's words).
    with translation.override(settings.LANGUAGE_CODE):
        for notice in notices:
            params = dict(notice.params or {})
            title, body = messages.render(notice.message, params, "", "") if notice.message else ("", "")
            seen: set[int] = set()
            for user in notice.users:
                if user is None or user.pk in seen:
                    continue
                seen.add(user.pk)
                planned.append((notice, user, f"{notice.key}:u{user.pk}"[:200], params, title, body))
    taken = _existing(Notification.objects, "dedupe_key", [p[2] for p in planned])
    modes = _delivery_modes({p[1].pk for p in planned}, {p[0].kind for p in planned})
    rows = []
    for notice, user, dedupe, params, title, body in planned:
        if dedupe in taken:
            continue
        taken.add(dedupe)
        mode = modes.get((user.pk, notice.kind)) or DEFAULT_MODES.get(
            notice.kind, NotificationPreference.Mode.IMMEDIATE
        )
        rows.append(
            Notification(
                user=user,
                case=notice.case,
                kind=notice.kind,
                message_id=notice.message,
                params=params,
                title=title[:200],
                body=body,
                created_at=now,
                dedupe_key=dedupe,
                held_for_digest=mode == NotificationPreference.Mode.DIGEST,
            )
        )
    try:
        with transaction.atomic():
            created = Notification.objects.bulk_create(rows, batch_size=500)
            _publish_many([n for n in notices if n.event], now)
    except IntegrityError:
        return [
            made
            for n in notices
            for made in notify(
                n.users,
                kind=n.kind,
                message=n.message,
                params=n.params,
                case=n.case,
                key=n.key,
                event=n.event,
                data=n.data,
                now=now,
            )
        ]
    mailed = [n.pk for n in created if n.user.email and not n.held_for_digest]
    for start in range(0, len(mailed), EMAILS_PER_TASK):
        transaction.on_commit(lambda pks=mailed[start : start + EMAILS_PER_TASK]: _enqueue_emails(pks))
    return created


def _existing(manager, field: str, values: list[str], **also: Any) -> set:
    """Which of `values` are stored already in `field` (read in parts of a bounded number of parameters)."""
    found: set = set()
    for start in range(0, len(values), 500):
        part = values[start : start + 500]
        rows = manager.filter(**{f"{field}__in": part}, **also).order_by()
        found.update(rows.values_list(field, flat=True))
    return found


def _delivery_modes(user_ids: set[int], kinds: set[str]) -> dict[tuple[int, str], str]:
    """The chosen delivery modes of these users for these kinds, in one read (`delivery_mode` for a set)."""
    if not user_ids:
        return {}
    rows = NotificationPreference.objects.filter(user_id__in=user_ids, kind__in=kinds)
    return {(u, k): m for u, k, m in rows.values_list("user_id", "kind", "mode")}


def _publish_many(notices: Sequence[Notice], now: dt.datetime) -> None:
    """`publish` for a set: the subscriptions read once, the new deliveries inserted together."""
    if not notices:
        return
    subscriptions = list(WebhookSubscription.objects.filter(is_active=True))
    if not subscriptions:
        return
    keys = [n.key[:200] for n in notices]
    done = set(
        WebhookDelivery.objects.filter(subscription__in=subscriptions, dedupe_key__in=keys).values_list(
            "subscription_id", "dedupe_key"
        )
    )
    rows = []
    for sub in subscriptions:
        for notice, key in zip(notices, keys, strict=True):
            if (sub.pk, key) in done or not sub.wants(notice.event):
                continue
            done.add((sub.pk, key))
            rows.append(
                WebhookDelivery(
                    subscription=sub,
                    dedupe_key=key,
                    event=notice.event,
                    payload=notice.data or {},
                    created_at=now,
                    next_attempt_at=now,
                )
            )
    for delivery in WebhookDelivery.objects.bulk_create(rows, batch_size=500):
        transaction.on_commit(lambda pk=delivery.pk: _enqueue_webhook(pk))


def delivery_mode(user, kind: str) -> str:
    """Immediate or daily digest: the user's choice for this kind, else the default."""
    chosen = (
        NotificationPreference.objects.filter(user=user, kind=kind).values_list("mode", flat=True).first()
    )
    return chosen or DEFAULT_MODES.get(kind, NotificationPreference.Mode.IMMEDIATE)


def publish(
    event: str, data: dict[str, Any], *, key: str, now: dt.datetime | None = None
) -> list[WebhookDelivery]:
    now = now or timezone.now()
    out = []
    for sub in WebhookSubscription.objects.filter(is_active=True):
        if not sub.wants(event):
            continue
        delivery, created = WebhookDelivery.objects.get_or_create(
            subscription=sub,
            dedupe_key=key[:200],
            defaults={"event": event, "payload": data, "created_at": now, "next_attempt_at": now},
        )
        if created:
            out.append(delivery)
            transaction.on_commit(lambda pk=delivery.pk: _enqueue_webhook(pk))
    return out


def _enqueue_email(pk: int) -> None:
    from kesu.sla.tasks import send_notification_email

    try:
        send_notification_email.enqueue(pk)
    except Exception:
        log.exception("could not enqueue e-mail for notification %s", pk)


def _enqueue_emails(pks: list[int]) -> None:
    from kesu.sla.tasks import send_notification_emails

    try:
        send_notification_emails.enqueue(pks)
    except Exception:
        log.exception("could not enqueue the e-mails of notifications %s…", pks[0])


def _enqueue_webhook(pk: int, run_after: dt.datetime | None = None) -> None:
    from kesu.sla.tasks import deliver_webhook

    try:
        task = deliver_webhook
        if run_after is not None:
            if not task.get_backend().supports_defer:
                return  # the sweeper retries due deliveries
            task = task.using(run_after=run_after)
        task.enqueue(pk)
    except Exception:
        log.exception("could not enqueue webhook delivery %s", pk)


# --- e-mail ------------------------------------------------------------------------------------------


def stable_message_id(*parts: object) -> str:
    """A Message-ID that is the same every time the same message is sent.

    A mail that goes out twice (a worker killed after the SMTP server accepted it and before its row
    was marked sent, then the catch-up job) carries the same Message-ID both times, so mail servers and
    clients that de-duplicate by it show it once. The domain is the sender's."""

    domain = settings.DEFAULT_FROM_EMAIL.rpartition("@")[2].strip(" >") or "kesu.localhost"
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()[:20]
    return f"<kesu.{digest}@{domain}>"


def send_email(notification_id: int) -> bool:
    """Send one notification's e-mail unless it was sent already; True when this call sent it.

    Safe to run twice and concurrently (a requeued task, the catch-up job beside the original task):
    the row is locked while the mail goes out and marked sent in the same transaction, so a second run
    waits and then finds it sent. A worker killed after the SMTP server accepted the mail and before
    the commit leaves it unsent, and the catch-up job sends it again: never silently lost, and the
    second copy has the same Message-ID (`stable_message_id`) so the recipient's mail system shows one."""
    from django.core.mail import EmailMessage

    with transaction.atomic():
        n = (
            Notification.objects.select_for_update(of=("self",))
            .select_related("user")
            .filter(pk=notification_id)
            .first()
        )
        if n is None or n.emailed or n.held_for_digest or not n.user.email:
            return False
        # In the recipient's language: users have none of their own yet, so the installation's.
        with translation.override(email_language(n.user)):
            title, body = n.text()
            subject = _("【客诉系统】%(title)s") % {"title": title}
        EmailMessage(
            subject=subject,
            body=body or title,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[n.user.email],
            headers={"Message-ID": stable_message_id("notification", n.pk, n.dedupe_key)},
        ).send(fail_silently=False)
        Notification.objects.filter(pk=n.pk).update(emailed=True)
    return True


def send_emails(notification_ids: list[int]) -> int:
    """`send_email` for each of a set (the task of `notify_many`); how many this call sent. One the
    SMTP server refuses is logged and left to the catch-up job, the others still go out."""
    sent = 0
    for pk in notification_ids:
        try:
            sent += send_email(pk)
        except Exception:
            log.exception("could not send the e-mail of notification %s", pk)
    return sent


def email_language(user) -> str:
    """The language a user's e-mail is written in: their own where they have one, else settings.LANGUAGE_CODE."""
    return getattr(user, "language", "") or settings.LANGUAGE_CODE


def unsent_email_ids(
    now: dt.datetime | None = None, *, older_than_minutes: int = 5, within_days: int = 7, limit: int = 500
) -> list[int]:
    """Notifications whose e-mail should have gone out and has not: a lost or failed e-mail task.

    Older than a few minutes (the normal task has had its chance), not older than `within_days` (a
    week-old reminder is no use by mail), for active users with an address."""
    now = now or timezone.now()
    return list(
        Notification.objects.filter(
            emailed=False,
            held_for_digest=False,  # held for the daily digest: mailed with it, never one by one
            created_at__lt=now - dt.timedelta(minutes=older_than_minutes),
            created_at__gte=now - dt.timedelta(days=within_days),
            user__is_active=True,
        )
        .exclude(user__email="")
        .order_by("created_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )


def send_unsent_emails(now: dt.datetime | None = None) -> int:
    """The periodic catch-up (settings.KESU_PERIODIC_JOBS): send what the e-mail tasks did not."""
    return send_emails(unsent_email_ids(now))  # one the SMTP server refuses: the next run tries again


# --- webhooks ----------------------------------------------------------------------------------------


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """HMAC-SHA256 over `<timestamp>.<body>`, hex, prefixed `sha256=`."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature: str, *, tolerance: int = 300) -> bool:
    if abs(time.time() - int(timestamp)) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


def deliver(delivery_id: int, *, now: dt.datetime | None = None) -> str:
    """One delivery attempt; logs it, schedules a retry with backoff on failure."""
    with transaction.atomic():
        d = (
            WebhookDelivery.objects.select_for_update()
            .select_related("subscription")
            .filter(pk=delivery_id)
            .first()
        )
        if d is None or d.state != WebhookDelivery.State.PENDING:
            return d.state if d else "missing"
        d.attempts += 1
        # Claimed: a lease, so that a crashed attempt is retried by the sweeper later.
        d.next_attempt_at = (now or timezone.now()) + dt.timedelta(minutes=10)
        d.save(update_fields=["attempts", "next_attempt_at"])
    sub = d.subscription
    body = json.dumps(
        {"event": d.event, "delivery": d.pk, "created_at": d.created_at.isoformat(), "data": d.payload},
        ensure_ascii=False,
        default=str,
    ).encode()
    ts = str(int(time.time()))
    req = urllib.request.Request(
        sub.url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "kesu-webhook/1",
            "X-Kesu-Event": d.event,
            "X-Kesu-Delivery": str(d.pk),
            TIMESTAMP_HEADER: ts,
            SIGNATURE_HEADER: sign(sub.secret, ts, body),
        },
    )
    started = time.monotonic()
    status, error = None, ""
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            status = resp.status
    except urllib.error.HTTPError as exc:
        status, error = exc.code, str(exc)
    except Exception as exc:  # connection refused, timeout ...
        error = f"{type(exc).__name__}: {exc}"
    at = now or timezone.now()
    WebhookAttempt.objects.create(
        delivery=d,
        number=d.attempts,
        at=at,
        status_code=status,
        error=error[:2000],
        duration_ms=int((time.monotonic() - started) * 1000),
    )
    if status is not None and 200 <= status < 300:
        WebhookDelivery.objects.filter(pk=d.pk).update(state=WebhookDelivery.State.DELIVERED, delivered_at=at)
        return WebhookDelivery.State.DELIVERED
    if d.attempts >= MAX_ATTEMPTS:
        WebhookDelivery.objects.filter(pk=d.pk).update(state=WebhookDelivery.State.FAILED)
        log.warning("webhook delivery %s failed after %s attempts", d.pk, d.attempts)
        return WebhookDelivery.State.FAILED
    retry_at = at + dt.timedelta(seconds=BACKOFF_SECONDS[min(d.attempts - 1, len(BACKOFF_SECONDS) - 1)])
    WebhookDelivery.objects.filter(pk=d.pk).update(next_attempt_at=retry_at)
    _enqueue_webhook(d.pk, run_after=retry_at)
    return WebhookDelivery.State.PENDING


def retry_due_deliveries(now: dt.datetime | None = None, limit: int = 500) -> int:
    """Attempt the pending deliveries whose retry is due, and those never attempted whose task has had
    its chance (`FIRST_ATTEMPT_GRACE`): a delivery just published (by the sweep that calls this, say)
    is its task's to send, not one synchronous HTTP call each in the sweep."""
    now = now or timezone.now()
    ids = list(
        WebhookDelivery.objects.filter(state=WebhookDelivery.State.PENDING, next_attempt_at__lte=now)
        .filter(Q(attempts__gt=0) | Q(created_at__lte=now - FIRST_ATTEMPT_GRACE))
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    for pk in ids:
        deliver(pk)
    return len(ids)


def mark_read(user, notification_ids: list[int] | None = None) -> int:
    qs = Notification.objects.filter(user=user, read_at__isnull=True, held_for_digest=False)
    if notification_ids is not None:
        qs = qs.filter(pk__in=notification_ids)
    return qs.update(read_at=timezone.now())
