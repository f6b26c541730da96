"""No e-mail lost, none doubled: a notification whose e-mail task was lost is mailed by the catch-up job,
once, however often the job and the original task run."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.utils import timezone

from kesu.sla.models import Notification
from kesu.sla.notify import send_email, send_unsent_emails, unsent_email_ids

pytestmark = pytest.mark.django_db


def _notification(user, minutes_ago: float, **kw) -> Notification:
    created = timezone.now() - dt.timedelta(minutes=minutes_ago)
    return Notification.objects.create(
        user=user,
        kind="test",
        title=f"提醒{minutes_ago}",
        created_at=created,
        dedupe_key=f"k{user.pk}-{minutes_ago}",
        **kw,
    )


def test_lost_emails_are_sent_once_by_the_catch_up(org, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    lost = _notification(org.handler, 30)  # its task never ran
    fresh = _notification(org.handler, 1)  # its task may still be in the queue: left to it
    sent = _notification(org.handler, 40, emailed=True)
    too_old = _notification(org.handler, 8 * 24 * 60)
    org.intake.email = ""
    org.intake.save()
    no_address = _notification(org.intake, 30)

    assert unsent_email_ids() == [lost.pk]
    assert send_unsent_emails() == 1
    assert [m.to for m in mail.outbox] == [[org.handler.email]]
    assert mail.outbox[0].subject == f"【客诉系统】{lost.title}"

    # The catch-up again, and the original task arriving late: nothing more is sent.
    assert send_unsent_emails() == 0
    assert send_email(lost.pk) is False
    assert len(mail.outbox) == 1
    assert {n.pk for n in Notification.objects.filter(emailed=False)} == {fresh.pk, too_old.pk, no_address.pk}
    assert sent.pk not in unsent_email_ids()


def test_a_failed_send_is_not_marked_sent(org, settings, monkeypatch):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    lost = _notification(org.handler, 30)

    def refuse(*a, **kw):
        raise ConnectionRefusedError("smtp down")

    monkeypatch.setattr("django.core.mail.EmailMessage.send", refuse)
    assert send_unsent_emails() == 0
    assert not Notification.objects.get(pk=lost.pk).emailed
    monkeypatch.undo()
    assert send_unsent_emails() == 1


def test_a_mail_sent_again_after_a_crash_has_the_same_message_id(org, settings, monkeypatch):
    """The worker dies after the SMTP server accepted the mail and before the row was marked sent: the
    catch-up sends it again (never lost), with the same Message-ID, so the recipient's mail system
    recognises the second copy as the same message."""
    from django.core.mail import EmailMessage

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    lost = _notification(org.handler, 30)
    _notification(org.handler, 31)  # another notification: its own id
    original = EmailMessage.send

    def accepted_then_killed(self, *a, **kw):
        original(self, *a, **kw)
        raise SystemExit("worker killed")

    monkeypatch.setattr(EmailMessage, "send", accepted_then_killed)
    with pytest.raises(SystemExit):
        send_email(lost.pk)
    monkeypatch.undo()
    assert not Notification.objects.get(pk=lost.pk).emailed
    assert send_unsent_emails() == 2
    ids = [m.extra_headers["Message-ID"] for m in mail.outbox]
    assert len(ids) == 3
    first, *rest = ids
    assert rest.count(first) == 1, ids  # the resend of `lost` repeats its id; `other` has its own
    assert len(set(ids)) == 2
    assert first.endswith("@" + settings.DEFAULT_FROM_EMAIL.rpartition("@")[2] + ">")
