"""The append-only, tamper-evident audit log.

`record(action, actor, target, details, request=None)` appends one `AuditEntry`. Each entry stores the
hash of the previous entry; its own hash is sha256 over a canonical JSON of its fields plus that
previous hash. Appends lock the chain head (`AuditHead`, one row) with `SELECT ... FOR UPDATE`
(PostgreSQL) inside a transaction (SQLite takes its write lock at `BEGIN IMMEDIATE`), so two appends
can never claim the same sequence number or fork the chain.

`verify()` recomputes the chain and reports the first broken link: an edited entry (hash mismatch), a
deleted entry (a gap in `seq`, or a `prev_hash` that does not match), a reordered entry, or entries
cut off at the end (the head no longer matches the last entry).

Actions recorded (codes are stable; see SECURITY.md): `auth.login`, `auth.login_failed`,
`auth.logout`, `auth.lockout`, `auth.login_blocked`, `auth.session_timeout`, `auth.totp_enrolled`,
`case.read`, `pii.reveal`, `pii.export`, `pii.purge`, `export.cases`, `export.case_file`,
`perm.roles_changed`, `perm.department_changed`, `perm.flags_changed`, `policy.changed`,
`backup.created`, `backup.restored`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction

from kesu.trust.models import AuditEntry, AuditHead

GENESIS = "0" * 64
HEAD_PK = 1

# The request being served (set by `kesu.trust.security.TrustMiddleware`), so hooks that have no request
# of their own (permission changes made in the admin) still record who did it and from where.
current_request: ContextVar[Any] = ContextVar("kesu_audit_request", default=None)


def _client_ip(request) -> str:
    if request is None:
        return ""
    try:
        from kesu.trust.ratelimit import client_ip

        return client_ip(request)[:64]
    except Exception:  # noqa: BLE001 - auditing never fails because of a missing header
        return str(getattr(request, "META", {}).get("REMOTE_ADDR", ""))[:64]


def _target(target: Any) -> tuple[str, str]:
    """(type, id) for a model instance (a case by its number), a (type, id) pair, a string or None."""
    if target is None:
        return "", ""
    if isinstance(target, tuple) and len(target) == 2:
        return str(target[0])[:64], str(target[1])[:100]
    if isinstance(target, str):
        return "", target[:100]
    meta = getattr(target, "_meta", None)
    if meta is not None:
        ident = getattr(target, "number", None) or getattr(target, "username", None) or target.pk
        return meta.label_lower[:64], str(ident)[:100]
    return type(target).__name__[:64], str(target)[:100]


def _normalise(details: Any) -> dict[str, Any]:
    # Round-trip through JSON so the hashed value is exactly what the database gives back.
    if details is None:
        return {}
    value = json.loads(json.dumps(details, ensure_ascii=False, default=str))
    return value if isinstance(value, dict) else {"value": value}


def _utc_iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry_hash(
    *,
    seq: int,
    created_at: dt.datetime,
    action: str,
    actor_id: int | None,
    actor_name: str,
    target_type: str,
    target_id: str,
    details: dict[str, Any],
    ip: str,
    prev_hash: str,
) -> str:
    """sha256 over the canonical JSON (sorted keys, no spaces, UTF-8) of the fields and `prev_hash`."""
    canonical = json.dumps(
        {
            "seq": int(seq),
            "created_at": _utc_iso(created_at),
            "action": action,
            "actor_id": actor_id,
            "actor_name": actor_name,
            "target_type": target_type,
            "target_id": target_id,
            "details": details,
            "ip": ip,
            "prev_hash": prev_hash,
        },
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _hash_of(entry: AuditEntry) -> str:
    return entry_hash(
        seq=entry.seq,
        created_at=entry.created_at,
        action=entry.action,
        actor_id=entry.actor_id,
        actor_name=entry.actor_name,
        target_type=entry.target_type,
        target_id=entry.target_id,
        details=entry.details,
        ip=entry.ip,
        prev_hash=entry.prev_hash,
    )


def _locked_head() -> AuditHead:
    head = AuditHead.objects.select_for_update().filter(pk=HEAD_PK).first()
    if head is None:
        # The migration creates the head; this covers a database flushed by tests.
        AuditHead.objects.get_or_create(pk=HEAD_PK)
        head = AuditHead.objects.select_for_update().get(pk=HEAD_PK)
    return head


def record(
    action: str,
    actor: Any = None,
    target: Any = None,
    details: dict[str, Any] | None = None,
    request: Any = None,
) -> AuditEntry:
    """Append one entry. `actor` is a user (or None for the system / an anonymous caller);
    `target` a model instance, a `(type, id)` pair or a string."""
    from django.utils import timezone

    if actor is not None and not getattr(actor, "is_authenticated", False):
        actor = None
    if request is None:
        request = current_request.get()
    if actor is None and request is not None:
        user = getattr(request, "user", None)
        if user is not None and getattr(user, "is_authenticated", False):
            actor = user
    actor_id = actor.pk if actor is not None else None
    actor_name = (actor.get_username() if actor is not None else "")[:150]
    target_type, target_id = _target(target)
    payload = _normalise(details)
    ip = _client_ip(request)
    with transaction.atomic():
        head = _read_locked_head()
        now = timezone.now()
        seq = head[0] + 1
        digest = entry_hash(
            seq=seq,
            created_at=now,
            action=action,
            actor_id=actor_id,
            actor_name=actor_name,
            target_type=target_type,
            target_id=target_id,
            details=payload,
            ip=ip,
            prev_hash=head[1],
        )
        entry = AuditEntry(
            seq=seq,
            created_at=now,
            action=action[:64],
            actor_id=actor_id,
            actor_name=actor_name,
            target_type=target_type,
            target_id=target_id,
            details=payload,
            ip=ip,
            prev_hash=head[1],
            hash=digest,
        )
        _append(entry)
    return entry


# Appends are on the path of every audited read (each API case detail): the head, the entry and the new
# head as statements written once per process instead of the ORM's three compiled queries, and on
# PostgreSQL the entry and the head in one round trip (a data-modifying WITH), which also shortens the
# time the head's lock is held, so concurrent appends wait less for each other.
_ENTRY_FIELDS = [f for f in AuditEntry._meta.concrete_fields if not f.primary_key]
_statements: dict[str, tuple[str, str, str | None]] = {}


def _sql() -> tuple[str, str, str | None]:
    """(lock the head, append the entry [and move the head on PostgreSQL], move the head or None)."""
    found = _statements.get(connection.vendor)
    if found is not None:
        return found
    quote = connection.ops.quote_name
    head_table = quote(AuditHead._meta.db_table)
    lock = f"SELECT {quote('seq')}, {quote('hash')} FROM {head_table} WHERE {quote('id')} = %s"
    if connection.features.has_select_for_update:
        lock += " FOR UPDATE"
    columns = ", ".join(quote(f.column) for f in _ENTRY_FIELDS)
    values = ", ".join(["%s"] * len(_ENTRY_FIELDS))
    insert = f"INSERT INTO {quote(AuditEntry._meta.db_table)} ({columns}) VALUES ({values}) RETURNING {quote('id')}"
    move = f"UPDATE {head_table} SET {quote('seq')} = %s, {quote('hash')} = %s WHERE {quote('id')} = %s"
    if connection.vendor == "postgresql":
        found = (lock, f"WITH e AS ({insert}) {move} RETURNING (SELECT {quote('id')} FROM e)", None)
    else:
        found = (lock, insert, move)
    _statements[connection.vendor] = found
    return found


def _read_locked_head() -> tuple[int, str]:
    """(seq, hash) of the chain head, locked until the end of the transaction."""
    lock, _append_sql, _move = _sql()
    with connection.cursor() as cursor:
        cursor.execute(lock, [HEAD_PK])
        row = cursor.fetchone()
    if row is None:
        head = _locked_head()  # a database flushed by tests: create the head
        return head.seq, head.hash
    return int(row[0]), row[1]


def _append(entry: AuditEntry) -> None:
    _lock, append, move = _sql()
    params = [f.get_db_prep_save(getattr(entry, f.attname), connection) for f in _ENTRY_FIELDS]
    with connection.cursor() as cursor:
        if move is None:
            cursor.execute(append, [*params, entry.seq, entry.hash, HEAD_PK])
        else:
            cursor.execute(append, params)
        entry.pk = cursor.fetchone()[0]
        if move is not None:
            cursor.execute(move, [entry.seq, entry.hash, HEAD_PK])
    entry._state.adding = False
    entry._state.db = connection.alias


@dataclass
class VerifyResult:
    ok: bool
    checked: int
    broken_seq: int | None = None
    problem: str = ""

    def __str__(self) -> str:
        if self.ok:
            return f"审计日志完整：已校验 {self.checked} 条记录"
        return (
            f"审计日志被篡改：第 {self.broken_seq} 条记录处断链（{self.problem}），此前 {self.checked} 条完好"
        )


def verify(chunk_size: int = 2000) -> VerifyResult:
    """Recompute the chain from the first entry; stop at the first broken link."""
    expected_seq = 1
    prev = GENESIS
    checked = 0
    for entry in AuditEntry.objects.order_by("seq").iterator(chunk_size=chunk_size):
        if entry.seq != expected_seq:
            problem = "记录缺失（序号不连续）" if entry.seq > expected_seq else "序号重复或顺序被改"
            return VerifyResult(False, checked, expected_seq, problem)
        if entry.prev_hash != prev:
            return VerifyResult(False, checked, entry.seq, "前一条记录的哈希不符（记录被删除、替换或重排）")
        if _hash_of(entry) != entry.hash:
            return VerifyResult(False, checked, entry.seq, "记录内容被修改（哈希不符）")
        prev = entry.hash
        expected_seq += 1
        checked += 1
    head = AuditHead.objects.filter(pk=HEAD_PK).first()
    if head is not None and (head.seq != checked or (checked and head.hash != prev)):
        if head.seq > checked:
            return VerifyResult(False, checked, checked + 1, f"链头记录到第 {head.seq} 条，末尾记录被删除")
        return VerifyResult(False, checked, head.seq or 1, "链头与最后一条记录不符")
    return VerifyResult(True, checked)


def tail(n: int = 20) -> list[AuditEntry]:
    return list(reversed(AuditEntry.objects.order_by("-seq")[:n]))


def entries_for(target: Any) -> list[AuditEntry]:
    target_type, target_id = _target(target)
    return list(AuditEntry.objects.filter(target_type=target_type, target_id=target_id).order_by("seq"))
