"""Inbound e-mail: complaints from a mailbox (IMAP) or a Maildir / `.eml` drop folder.

A new mail becomes a case (`register_case`, channel `email`, the sender as the customer), with
the mail itself as the next event on the timeline (`customer_mail`: from, subject, body) and its
attachments attached through `kesu.cases.attachments.attach_file`. A mail whose subject names a
case number (TS + 12 digits, e.g. "Re: 【TS202611220001】处理进度") is threaded into that case as a
`customer_mail` event instead. Every message is processed once (by Message-ID).
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import imaplib
import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import getaddresses, parsedate_to_datetime
from pathlib import Path

from django.db import IntegrityError
from django.utils import timezone

from kesu.cases.attachments import attach_file
from kesu.cases.models import Case, CaseEvent
from kesu.cases.services import perform, register_case
from kesu.errors import DomainError
from kesu.intake.models import InboundMail

log = logging.getLogger("kesu.intake.mail")

CASE_NUMBER_RE = re.compile(r"TS\d{12}\d*")
MAIL_EVENT = "customer_mail"


@dataclass
class MailResult:
    message_id: str
    outcome: str  # created | threaded | duplicate | rejected
    number: str = ""
    attachments: list[str] = field(default_factory=list)
    refused_attachments: list[dict] = field(default_factory=list)
    error: str = ""


# --- reading ----------------------------------------------------------------------------------


def iter_folder(path: str | Path) -> Iterator[tuple[str, bytes]]:
    """(name, raw bytes) of every message in a Maildir (new/ and cur/) or a folder of `.eml` files."""
    root = Path(path)
    folders = [root / "new", root / "cur"] if (root / "new").is_dir() else [root]
    for folder in folders:
        if not folder.is_dir():
            continue
        for item in sorted(folder.iterdir()):
            if item.is_file() and not item.name.startswith("."):
                if folder is root and item.suffix.lower() not in (".eml", ".msg", ""):
                    continue
                yield item.name, item.read_bytes()


def iter_imap(
    host: str, user: str, password: str, *, mailbox: str = "INBOX", port: int = 993, ssl: bool = True
) -> Iterator[tuple[str, bytes]]:
    """Unseen messages of an IMAP mailbox; each is flagged \\Seen only after it was processed."""
    conn = imaplib.IMAP4_SSL(host, port) if ssl else imaplib.IMAP4(host, port)
    try:
        conn.login(user, password)
        conn.select(mailbox)
        _typ, data = conn.search(None, "UNSEEN")
        for num in (data[0] or b"").split():
            _typ, parts = conn.fetch(num, "(BODY.PEEK[])")
            raw = next((p[1] for p in parts if isinstance(p, tuple)), b"")
            yield num.decode(), raw
            conn.store(num, "+FLAGS", "\\Seen")
    finally:
        try:
            conn.logout()
        except Exception:  # noqa: BLE001 - closing a broken connection
            pass


# --- processing ---------------------------------------------------------------------------------


def _text_of(msg: EmailMessage) -> str:
    body = msg.get_body(preferencelist=("plain", "html"))
    if body is None:
        return ""
    text = body.get_content()
    if body.get_content_type() == "text/html":
        text = re.sub(r"<[^>]+>", " ", text)
        text = re.sub(r"[ \t]+", " ", text)
    return text.strip()


def _message_id(msg: EmailMessage, raw: bytes) -> str:
    mid = (msg.get("Message-ID") or "").strip()
    return mid[:255] if mid else "sha256:" + hashlib.sha256(raw).hexdigest()


def _attachments(msg: EmailMessage) -> list[tuple[str, bytes]]:
    out = []
    for part in msg.iter_attachments():
        name = part.get_filename() or "附件"
        payload = part.get_payload(decode=True) or b""
        out.append((name, payload))
    return out


def append_mail_event(case: Case, *, actor, payload: dict) -> CaseEvent:
    """Add the customer's mail to the case's timeline through the transition service (status unchanged)."""

    mail_user = getattr(actor, "username", None) if getattr(actor, "is_authenticated", False) else None
    data = json.loads(json.dumps({**payload, "received_by": mail_user}, ensure_ascii=False, default=str))
    return perform(case, MAIL_EVENT, None, **data)


def _store_attachments(case: Case, actor, files: list[tuple[str, bytes]], result: MailResult) -> None:

    for name, content in files:
        try:
            attachment = attach_file(case, actor, name=name, content=content, note="来自客户邮件")
            result.attachments.append(attachment.original_name)
        except DomainError as exc:
            # Not silently lost: the refusal is on the mail event and in the result.
            result.refused_attachments.append({"name": name, "reason": exc.message})


def process_message(raw: bytes, *, actor) -> MailResult:
    """Turn one raw e-mail into a new case or an event on the case its subject names."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    message_id = _message_id(msg, raw)
    if InboundMail.objects.filter(message_id=message_id).exists():
        return MailResult(message_id, "duplicate")
    subject = str(msg.get("Subject") or "").strip()
    senders = getaddresses([str(msg.get("From") or "")])
    sender_name, sender_addr = senders[0] if senders else ("", "")
    body = _text_of(msg)
    try:
        sent_at = parsedate_to_datetime(str(msg.get("Date"))) if msg.get("Date") else None
    except (TypeError, ValueError):
        sent_at = None
    files = _attachments(msg)
    mail_payload = {
        "from": f"{sender_name} <{sender_addr}>" if sender_name else sender_addr,
        "subject": subject,
        "body": body[:20000],
        "message_id": message_id,
        "sent_at": sent_at.isoformat() if sent_at else None,
        "attachments": [name for name, _ in files],
    }
    result = MailResult(message_id, "created")
    match = CASE_NUMBER_RE.search(subject)
    case = Case.objects.filter(number=match.group(0)).first() if match else None
    try:
        if case is not None:
            result.outcome, result.number = "threaded", case.number
            append_mail_event(case, actor=actor, payload=mail_payload)
            _store_attachments(case, actor, files, result)
        else:
            data = {
                "channel": "email",
                "kind": "complaint",
                "subject": subject[:200],
                "description": body or subject or "（空邮件）",
                "customer": {"name": sender_name[:100], "email": sender_addr},
                "external_source": "email",
                "external_id": message_id[:100],
            }
            # Without a usable Date header register_case takes the time of receipt; it is left out of
            # the request so that a second fetch of the same mail is the same request (a replay, not a
            # reused message id).
            if sent_at and sent_at <= timezone.now():
                data["received_at"] = sent_at
            reg = register_case(actor=actor, data=data)
            case = reg.case
            result.number = case.number
            if reg.created:
                append_mail_event(case, actor=actor, payload=mail_payload)
                _store_attachments(case, actor, files, result)
            else:
                result.outcome = "duplicate"
    except DomainError as exc:
        result.outcome, result.error = "rejected", exc.message
    try:
        InboundMail.objects.create(
            message_id=message_id,
            case=case if result.outcome in ("created", "threaded") else None,
            outcome={"created": "created", "threaded": "threaded"}.get(result.outcome, "rejected"),
            sender=sender_addr[:255],
            subject=subject[:255],
            error=result.error or json.dumps(result.refused_attachments, ensure_ascii=False)
            if result.refused_attachments
            else result.error,
        )
    except IntegrityError:
        pass
    return result


def fetch(messages: Iterator[tuple[str, bytes]], *, actor) -> list[MailResult]:
    results = []
    for name, raw in messages:
        try:
            results.append(process_message(raw, actor=actor))
        except Exception as exc:  # one broken mail must not stop the mailbox
            log.exception("mail %s could not be processed", name)
            results.append(MailResult(name, "rejected", error=str(exc)))
    return results
