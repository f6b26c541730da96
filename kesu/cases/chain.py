"""Tamper-evident timelines: the events of each case form a hash chain, like the audit log.

Every `CaseEvent` stores `prev_hash` (the `hash` of the same case's previous event, `GENESIS` for the
first) and `hash`: sha256 over the canonical JSON (sorted keys, no spaces, UTF-8) of the event's
fields and `prev_hash`. Editing an event changes its hash; deleting or reordering events breaks the
next event's `prev_hash`; cutting events off the end leaves the case's `version` (always the number of
its events) pointing past the last one. `verify_cases` checks all of it; `kesu audit verify` runs it.

The hash is computed where the event row is written: `seal(event, prev_hash)` for ORM instances
(`perform`, `register_case`, the importer's update event), `event_hash(...)` for the importer's raw
rows, which hands over a payload already in canonical form (no parse, no extra query).

The chain makes tampering visible only against a head that the attacker cannot rewrite as well:
`heads_digest()` condenses every case's last hash; the trust app's daily job sends it out of the
database (log and mail to the administrators, SECURITY.md).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db import connection
from django.utils import timezone

from kesu.cases.models import Case, CaseEvent

GENESIS = "0" * 64
CHUNK = 5000


def canonical_json(value: Any) -> str:
    """The form a payload is hashed in: what `json.loads` of the stored value dumps to."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def utc_stamp(value: dt.datetime) -> str:
    """A stored time as hashed: UTC, microseconds, "Z" (the database gives back what was written)."""
    if timezone.is_naive(value):
        value = timezone.make_aware(value)
    return value.astimezone(dt.UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def event_hash(
    *,
    case_id: int,
    seq: int,
    actor_id: int | None,
    action: str,
    from_status: str,
    to_status: str,
    created_at: str,
    payload_json: str,
    is_public: bool,
    prev_hash: str,
) -> str:
    """sha256 of the canonical JSON of one event. `created_at` is `utc_stamp(...)`, `payload_json` is
    `canonical_json(payload)`: both already strings, so the bulk importer builds them its own cheap way."""
    s = _json_string
    text = (
        f'{{"action":{s(action)},"actor_id":{"null" if actor_id is None else int(actor_id)},'
        f'"case_id":{int(case_id)},"created_at":"{created_at}",'
        f'"from_status":{s(from_status)},"is_public":{"true" if is_public else "false"},'
        f'"payload":{payload_json},"prev_hash":"{prev_hash}","seq":{int(seq)},'
        f'"to_status":{s(to_status)}}}'
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@functools.lru_cache(maxsize=256)
def _json_string(value: str) -> str:
    """`json.dumps(value, ensure_ascii=False)` of an action or status: a few dozen distinct values, and
    `json.dumps` with an argument builds a new encoder per call (three per event, 5M for a 1M-row import)."""
    return json.dumps(value, ensure_ascii=False)


def hash_of(event: CaseEvent, prev_hash: str | None = None) -> str:
    """The hash `event` should have (with its stored `prev_hash` unless another is given)."""
    return event_hash(
        case_id=event.case_id,
        seq=event.seq,
        actor_id=event.actor_id,
        action=event.action,
        from_status=event.from_status,
        to_status=event.to_status,
        created_at=utc_stamp(event.created_at),
        payload_json=canonical_json(event.payload),
        is_public=event.is_public,
        prev_hash=event.prev_hash if prev_hash is None else prev_hash,
    )


def last_hash(case_id: int) -> str:
    """The hash of the case's latest event (GENESIS before the first). Read under the case's row lock
    (`perform`) or the importer's version check, so no other event can slip in between."""
    found = CaseEvent.objects.filter(case_id=case_id).order_by("-seq").values_list("hash", flat=True).first()
    return found or GENESIS


def seal(event: CaseEvent, prev_hash: str | None = None) -> CaseEvent:
    """Set `prev_hash` and `hash` of an event about to be inserted (its payload final)."""
    event.prev_hash = last_hash(event.case_id) if prev_hash is None else prev_hash
    event.hash = hash_of(event)
    return event


# --- verification ----------------------------------------------------------------------------------


@dataclass
class CaseProblem:
    number: str
    seq: int | None
    problem: str

    def __str__(self) -> str:
        at = f"第 {self.seq} 条事件" if self.seq is not None else "时间线"
        return f"案件 {self.number} {at}：{self.problem}"


@dataclass
class ChainResult:
    ok: bool = True
    cases: int = 0
    events: int = 0
    problems: list[CaseProblem] = field(default_factory=list)
    broken_cases: int = 0

    def __str__(self) -> str:
        if self.ok:
            return f"案件时间线完整：已校验 {self.cases} 件案件的 {self.events} 条事件"
        lines = [f"案件时间线被篡改：{self.broken_cases} 件案件的事件链断裂"]
        lines += [f"  {p}" for p in self.problems]
        if self.broken_cases > len(self.problems):
            lines.append(f"  …… 另有 {self.broken_cases - len(self.problems)} 件")
        return "\n".join(lines)


def _pages(chunk: int) -> Iterator[tuple[list[tuple[int, str, int]], list[CaseEvent]]]:
    """Cases in id order, a page at a time, with their events by (case, seq): flat memory, each page
    one range scan of the (case, seq) index."""
    last = 0
    while True:
        cases = list(
            Case.objects.filter(pk__gt=last).order_by("pk").values_list("pk", "number", "version")[:chunk]
        )
        if not cases:
            return
        events = list(
            CaseEvent.objects.filter(case_id__gt=last, case_id__lte=cases[-1][0]).order_by("case_id", "seq")
        )
        yield cases, events
        last = cases[-1][0]


def _check_case(number: str, version: int, events: list[CaseEvent]) -> tuple[int | None, str] | None:
    prev = GENESIS
    for expected_seq, event in enumerate(events, start=1):
        if event.seq != expected_seq:
            return expected_seq, "事件缺失（序号不连续）"
        if event.prev_hash != prev:
            return event.seq, "前一条事件的哈希不符（事件被删除、替换或重排）"
        if hash_of(event) != event.hash:
            return event.seq, "事件内容被修改（哈希不符）"
        prev = event.hash
    if len(events) != version:
        if len(events) < version:
            return len(events) + 1, f"案件版本为 {version}，末尾事件被删除"
        return None, f"案件版本为 {version}，却有 {len(events)} 条事件"
    return None


def verify_cases(*, chunk: int = CHUNK // 5, report: int = 20) -> ChainResult:
    """Check every case's chain and report the broken cases (the first `report` of them, by id)."""
    result = ChainResult()
    for cases, events in _pages(chunk):
        by_case: dict[int, list[CaseEvent]] = {}
        for event in events:
            by_case.setdefault(event.case_id, []).append(event)
        for pk, number, version in cases:
            mine = by_case.get(pk, [])
            result.cases += 1
            result.events += len(mine)
            broken = _check_case(number, version, mine)
            if broken is not None:
                result.ok = False
                result.broken_cases += 1
                if len(result.problems) < report:
                    result.problems.append(CaseProblem(number, *broken))
    return result


def heads_digest() -> dict[str, Any]:
    """sha256 over every case's (id, last seq, last hash), in case order: one value that changes when
    any event of any case is added, edited or removed. With the counts, for the daily anchor."""
    digest = hashlib.sha256()
    cases = events = 0
    table, ctable = CaseEvent._meta.db_table, Case._meta.db_table
    sql = (
        f'SELECT c."id", e."seq", e."hash" FROM "{ctable}" c '
        f'LEFT JOIN "{table}" e ON e."case_id" = c."id" AND e."seq" = c."version" '
        f'WHERE c."id" > %s ORDER BY c."id" LIMIT {CHUNK}'
    )
    last = 0
    with connection.cursor() as cur:
        while True:
            cur.execute(sql, [last])
            rows = cur.fetchall()
            if not rows:
                break
            for pk, seq, value in rows:
                digest.update(f"{pk}:{seq or 0}:{value or ''}\n".encode())
                cases += 1
                events += seq or 0
            last = rows[-1][0]
    return {"cases": cases, "events": events, "heads_sha256": digest.hexdigest()}
