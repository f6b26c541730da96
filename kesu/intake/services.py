"""Writes of kesu.intake: file imports, the batch and webhook intake, import sources.

`run_import` streams a file through the source's mapping into `kesu.intake.bulk.writer.BulkWriter`, one
transaction per chunk. Each committed chunk is recorded (`ImportChunk`) in the same transaction as
its rows, so after a crash the batch says exactly which rows are in; running the same file again
resumes after the last committed chunk, and rows already in the database are recognised by their
external id — nothing is duplicated, nothing silently dropped: every row ends as created, updated,
unchanged, rejected (with row, column and reason) or ignored (totals and blank rows, with a note).
"""

from __future__ import annotations

import datetime as dt
import gc
import hashlib
import hmac
import itertools
import json
import logging
import multiprocessing as mp
import pickle
import queue as queue_module
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import timezone

from kesu.cases.services import register_many, request_fingerprint
from kesu.cases.storable import unstorable_text
from kesu.errors import Conflict, DomainError, Forbidden, Invalid, NotFound
from kesu.intake.bulk.common import ChunkResult
from kesu.intake.bulk.writer import BulkWriter
from kesu.intake.mapping import FIELDS, Record, RowMapper, pack_records, unpack_records
from kesu.intake.models import (
    BatchRequest,
    ImportBatch,
    ImportChunk,
    ImportIssue,
    ImportSource,
    WebhookNonce,
)
from kesu.intake.options import SourceOptions, check_options, identity
from kesu.intake.parsers import FileFormatError, cell_text, footer_kind, locate_header_rows, open_rows
from kesu.intake.updates import SystemWriter
from kesu.org import roles
from kesu.org.selectors import holds_any_role
from kesu.policy.selectors import active_policy, rules_for

log = logging.getLogger("kesu.intake")

# Rows per transaction: the unit of resumption. Large enough that a commit's fixed cost (writing the
# touched index pages) is shared by many rows; small enough that memory stays flat and the reader
# process's first chunk arrives soon (20,000 measured slower: bench/results/import.json).
DEFAULT_CHUNK_SIZE = 10000
MAX_BATCH_ITEMS = 1000
WEBHOOK_WINDOW = dt.timedelta(minutes=5)


class Unauthenticated(DomainError):
    status = 401
    code = "invalid_signature"


# Roles that may load data into the system (file imports, system-to-system intake).
INTAKE_ROLES = frozenset({roles.INTAKE, roles.SUPERVISOR, roles.CS_MANAGER, roles.ADMIN})


def require_intake_role(user) -> None:
    if not getattr(user, "is_authenticated", False):
        raise Forbidden("请先登录", code="not_authenticated")
    if not holds_any_role(user, INTAKE_ROLES):
        raise Forbidden("只有受理员、投诉主管、客服经理或系统管理员可以导入数据", code="role_not_allowed")


# --- sources ----------------------------------------------------------------------------------


def save_source(
    code: str,
    *,
    name: str | None = None,
    mapping: dict[str, Any] | None = None,
    value_maps: dict[str, dict[str, str]] | None = None,
    defaults: dict[str, Any] | None = None,
    webhook_secret: str | None = None,
    options: dict[str, Any] | None = None,
) -> ImportSource:
    """Create or update an import source and its saved mapping (and options: kesu.intake.options)."""
    unknown = [k for k in (mapping or {}) if k not in FIELDS and not k.startswith("extra.")]
    if unknown:
        raise Invalid("列映射中有未知字段：" + "、".join(unknown), details={k: "未知字段" for k in unknown})
    if options is not None:
        options = check_options(options, FIELDS)
    source, _created = ImportSource.objects.get_or_create(code=code, defaults={"name": name or code})
    if name:
        source.name = name
    if mapping is not None:
        source.mapping = mapping
    if value_maps is not None:
        source.value_maps = value_maps
    if defaults is not None:
        source.defaults = defaults
    if webhook_secret is not None:
        source.webhook_secret = webhook_secret
    if options is not None:
        source.options = options
    source.save()
    return source


def create_source(code: str, **fields: Any) -> ImportSource:
    """A new import source (`save_source` updates one); the code is a slug and must be new."""
    if not isinstance(code, str) or not _SOURCE_CODE.match(code):
        raise Invalid("来源编码须为 1–40 位字母、数字、- 或 _", details={"code": "slug"})
    if ImportSource.objects.filter(code=code).exists():
        raise Conflict(f"数据来源「{code}」已存在", code="source_exists")
    return save_source(code, **fields)


_SOURCE_CODE = re.compile(r"^[-a-zA-Z0-9_]{1,40}$")


def get_source(code: str | ImportSource) -> ImportSource:
    if isinstance(code, ImportSource):
        return code
    source = ImportSource.objects.filter(code=code, is_active=True).first()
    if source is None:
        raise NotFound(f"数据来源「{code}」不存在", code="unknown_source")
    return source


# --- file import --------------------------------------------------------------------------------


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _is_blank(cells: list[Any]) -> bool:
    for c in cells:
        if c is None:
            continue
        if isinstance(c, str):
            if c.strip():
                return False
        else:
            return False
    return True


def _chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    it = iter(items)
    while True:
        block = list(itertools.islice(it, size))
        if not block:
            return
        yield block


class _ChunkCounts:
    __slots__ = ("rows", "created", "updated", "unchanged", "rejected", "ignored")

    def __init__(self) -> None:
        self.rows = self.created = self.updated = self.unchanged = self.rejected = self.ignored = 0

    def __getstate__(self) -> tuple[int, ...]:  # sent between processes by the read-ahead
        return tuple(getattr(self, n) for n in self.__slots__)

    def __setstate__(self, state: tuple[int, ...]) -> None:
        for name, value in zip(self.__slots__, state, strict=True):
            setattr(self, name, value)


@dataclass
class MappedChunk:
    """One chunk of the file, read and mapped (no database needed): what the writer gets."""

    index: int
    first_row: int
    last_row: int
    counts: _ChunkCounts
    # (row, column, value, reason, severity, external_id) of the rows refused while mapping, and notes
    issues: list[tuple[int, str, str, str, str, str]]
    records: list[Record]

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:  # sent between processes by the read-ahead
        records = pack_records(self.records)
        return (_unpack_chunk, (self.index, self.first_row, self.last_row, self.counts, self.issues, records))


def _unpack_chunk(
    index: int, first_row: int, last_row: int, counts: _ChunkCounts, issues: list, records: list[tuple]
) -> MappedChunk:
    return MappedChunk(index, first_row, last_row, counts, issues, unpack_records(records))


_FOOTER_NOTES = {"total": "合计行，已忽略", "signature": "签名行（制表人/审核人等），已忽略"}


def _map_chunk(
    index: int, rows: list[tuple[int, list[Any]]], mapper: RowMapper, prepare: Callable | None = None
) -> MappedChunk:
    counts = _ChunkCounts()
    issues: list[tuple[int, str, str, str, str, str]] = []
    records = []
    ext_idx = mapper.columns.get("external_id")
    note = ImportIssue.Severity.NOTE
    for number, cells in rows:
        counts.rows += 1
        if _is_blank(cells):
            counts.ignored += 1
            issues.append((number, "", "", "空行，已忽略", note, ""))
            continue
        footer = footer_kind([cell_text(c) for c in cells[:3]])
        if footer is not None:
            counts.ignored += 1
            value = cell_text(next((c for c in cells if cell_text(c)), ""))[:200]
            issues.append((number, "", value, _FOOTER_NOTES[footer], note, ""))
            continue
        record, problems = mapper.map(number, cells)
        if problems:
            counts.rejected += 1
            ext = cell_text(cells[ext_idx])[:100] if ext_idx is not None and ext_idx < len(cells) else ""
            for column, value, reason in problems:
                issues.append((number, column[:100], value[:200], reason, ImportIssue.Severity.ERROR, ext))
        else:
            records.append(record)
            for column, value, reason in record.warnings:
                issues.append((number, column[:100], value[:200], reason, note, record.external_id[:100]))
    if prepare is not None:
        prepare(records)
    return MappedChunk(index, rows[0][0], rows[-1][0], counts, issues, records)


def _mapped_chunks(
    data_rows: Iterable[tuple[int, list[Any]]],
    mapper: RowMapper,
    size: int,
    skip: int = 0,
    prepare: Callable | None = None,
) -> Iterator[MappedChunk]:
    """The file in mapped chunks; the first `skip` chunks (committed by an earlier run) are passed over."""
    for index, rows in enumerate(_chunks(data_rows, size)):
        if index >= skip:
            yield _map_chunk(index, rows, mapper, prepare)


def _write_chunk(
    mapped: MappedChunk, writer: BulkWriter, batch: ImportBatch
) -> tuple[_ChunkCounts, list[ImportIssue], ChunkResult]:
    counts = mapped.counts
    issues = [
        ImportIssue(
            batch=batch, row=row, column=column, value=value, reason=reason, severity=sev, external_id=ext
        )
        for row, column, value, reason, sev, ext in mapped.issues
    ]
    result = writer.write(mapped.records)
    counts.created += result.created
    for o in result.outcomes:
        if o.status == "rejected":
            counts.rejected += 1
            issues.append(
                ImportIssue(
                    batch=batch,
                    row=o.row,
                    column=o.column,
                    value=o.value[:200],
                    reason=o.reason,
                    external_id=o.external_id,
                )
            )
        else:
            setattr(counts, o.status, getattr(counts, o.status) + 1)
            if o.note:
                issues.append(
                    ImportIssue(
                        batch=batch,
                        row=o.row,
                        reason=o.note,
                        severity=ImportIssue.Severity.NOTE,
                        external_id=o.external_id,
                    )
                )
    issues.sort(key=lambda i: i.row)
    return counts, issues, result


# --- reading ahead in a second process ----------------------------------------------------------

# Files smaller than this are mapped inline: a second process only pays off for long imports.
READ_AHEAD_MIN_BYTES = 8 << 20
_READ_AHEAD_DEPTH = 2  # chunks waiting in the queue: memory stays flat however big the file


def _read_ahead(chunks: Iterator[MappedChunk]) -> Iterator[MappedChunk]:
    """Yield `chunks`, produced by a forked child process while this one writes the previous chunk.

    Reading, decoding and mapping a row costs about as much as writing it, so on two cores the two
    halves run side by side. The child only reads the file (it inherited it open) and never touches
    the database; it stops when this generator is closed (the import failed or finished).
    """
    ctx = mp.get_context("fork")
    queue = ctx.Queue(maxsize=_READ_AHEAD_DEPTH)
    child = ctx.Process(target=_produce, args=(chunks, queue), name="kesu-import-reader", daemon=True)
    child.start()
    try:
        while True:
            try:
                kind, item = queue.get(timeout=1.0)
            except queue_module.Empty:
                if not child.is_alive():
                    raise RuntimeError(f"读取文件的进程意外退出（退出码 {child.exitcode}）") from None
                continue
            if kind == "end":
                return
            if kind == "error":
                raise item
            yield item
    finally:
        if child.is_alive():
            child.terminate()
        child.join(timeout=10)
        queue.close()


def _produce(chunks: Iterator[MappedChunk], queue) -> None:
    # Forked from inside `_collection_paused`, so the collector is off here too, and stays off: with
    # it on, the young passes over the chunk being mapped (a ~10^5-object graph that reference
    # counting frees) and the full passes over the heap inherited from the writer cost the reader
    # ~1 CPU s per 100k rows (~15 % of its work) and freed nothing. The inherited heap is frozen (never
    # scanned again); a young pass every few chunks still reclaims stray cycles.
    gc.freeze()
    collector = _collection_paused().__enter__()
    try:
        for chunk in chunks:
            queue.put(("chunk", chunk))
            collector.tick()
        queue.put(("end", None))
    except BaseException as exc:  # handed to the parent, which records it on the batch
        try:
            pickle.dumps(exc)
        except Exception:
            exc = RuntimeError(str(exc) or exc.__class__.__name__)
        queue.put(("error", exc))


def _use_read_ahead(path: Path) -> bool:
    # Only from a single-threaded process (the CLI, the task worker): forking a threaded web server
    # could copy a lock another thread holds into the child.
    return (
        "fork" in mp.get_all_start_methods()
        and threading.active_count() == 1
        and path.stat().st_size >= READ_AHEAD_MIN_BYTES
    )


class _collection_paused:
    """No cyclic garbage collection while chunks are imported, except a pass over the young objects
    every few chunks (`tick`).

    A chunk allocates ~10^6 objects (records, rows, payloads, stage rows) that reference counting
    frees. With the collector on, passes over the chunk's objects still alive and, as the old
    generation grows, over the whole heap cost seconds per million rows and free nothing; the
    occasional young pass still reclaims stray reference cycles, and the state is restored after.
    """

    EVERY = 20  # chunks

    def __enter__(self) -> _collection_paused:
        self.was_enabled, self.chunks = gc.isenabled(), 0
        gc.disable()
        return self

    def tick(self) -> None:
        self.chunks += 1
        if self.chunks % self.EVERY == 0:
            gc.collect(0)

    def __exit__(self, *exc) -> None:
        if self.was_enabled:
            gc.enable()


def _add_counts(batch: ImportBatch, c: _ChunkCounts) -> None:
    batch.total_rows += c.rows - c.ignored
    batch.created += c.created
    batch.updated += c.updated
    batch.unchanged += c.unchanged
    batch.rejected += c.rejected
    batch.ignored += c.ignored


# Tests replace this to fail an import half-way (fault injection); it runs inside each chunk's transaction.
def _chunk_committing(batch: ImportBatch, index: int) -> None:
    return None


def run_import(
    source: ImportSource | str,
    path: str | Path,
    *,
    mode: str = ImportBatch.Mode.COMMIT,
    actor=None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    sheet: str | None = None,
    file_name: str | None = None,
    progress: Callable[[ImportBatch], None] | None = None,
    now: dt.datetime | None = None,
) -> ImportBatch:
    """Import a CSV/XLSX file from `source`. `mode="validate"` reports without writing anything.

    Returns the batch; `batch.state` is `completed`, or `failed` with `batch.error` (then running
    the same file again resumes after the last committed chunk).
    """
    source = get_source(source)
    path = Path(path)
    if mode not in ImportBatch.Mode.values:
        raise Invalid(f"未知导入模式：{mode}", details={"mode": "validate 或 commit"})
    sha = file_sha256(path)
    actor_id = actor.pk if getattr(actor, "is_authenticated", False) else None
    batch = None
    if mode == ImportBatch.Mode.COMMIT:
        batch = (
            ImportBatch.objects.filter(
                source=source,
                file_sha256=sha,
                mode=mode,
                state__in=[ImportBatch.State.RUNNING, ImportBatch.State.FAILED],
            )
            .order_by("-pk")
            .first()
        )
    if batch is not None:
        log.info("resuming import batch %s after %s committed chunks", batch.pk, batch.chunks_committed)
        batch.state, batch.error, batch.finished_at = ImportBatch.State.RUNNING, "", None
        batch.save(update_fields=["state", "error", "finished_at"])
    else:
        batch = ImportBatch.objects.create(
            source=source,
            mode=mode,
            file_name=(file_name or path.name)[:255],
            file_sha256=sha,
            file_size=path.stat().st_size,
            chunk_size=chunk_size,
            started_by_id=actor_id,
        )
    close = None
    try:
        rows, fmt, encoding, close = open_rows(path, sheet=sheet)
        wanted = {}
        for name, (_label, aliases) in FIELDS.items():
            own = source.mapping.get(name)
            wanted[name] = ([own] if isinstance(own, str) else list(own or [])) or aliases
        names, before, header, first_rows = locate_header_rows(rows, wanted)
        batch.file_format, batch.encoding = fmt, encoding
        batch.save(update_fields=["file_format", "encoding"])
        if batch.chunks_committed == 0:
            _note_rows_above_data(batch, before, header)
        policy = active_policy()
        rules = rules_for(policy)
        mapper = RowMapper(
            names=names,
            mapping=source.mapping,
            value_maps=source.value_maps,
            defaults=source.defaults,
            rules=rules,
            now=now,
            options=SourceOptions.of(source),
        )
        if mapper.missing_required:
            labels = "、".join(FIELDS[f][0] for f in mapper.missing_required)
            raise FileFormatError(f"文件缺少必需的列：{labels}（请检查表头或来源的列映射）")
        writer = SystemWriter(
            columns=frozenset(mapper.columns),
            source=identity(source),
            batch_id=batch.pk,
            rules=rules,
            policy_id=policy.pk,
            actor_id=actor_id,
            first_case_id=batch.first_case_id,
            now=now,
        )
        data_rows = itertools.chain(first_rows, rows)
        skip = batch.chunks_committed if mode == ImportBatch.Mode.COMMIT else 0
        chunks = _mapped_chunks(data_rows, mapper, batch.chunk_size, skip, writer.prepare)
        if _use_read_ahead(path):
            chunks = _read_ahead(chunks)
        try:
            with _collection_paused() as collector, _import_connection_settings():
                if mode == ImportBatch.Mode.VALIDATE:
                    _validate(batch, chunks, writer, progress, collector)
                else:
                    _commit(batch, chunks, writer, progress, collector)
        finally:
            chunks.close()  # stops the reading process when a chunk failed
        batch.state = ImportBatch.State.COMPLETED
    except Exception as exc:  # the batch records the failure; committed chunks stay in
        log.exception("import batch %s failed", batch.pk)
        batch.refresh_from_db()  # the failed chunk's counters were rolled back with its rows
        batch.state = ImportBatch.State.FAILED
        batch.error = str(exc) or exc.__class__.__name__
        if not isinstance(exc, FileFormatError | DomainError):
            batch.error = f"导入在第 {batch.chunks_committed + 1} 个分块失败：{batch.error}"
    finally:
        if close:
            close()
    batch.finished_at = timezone.now()
    batch.save(update_fields=["state", "error", "finished_at"])
    return batch


def _note_rows_above_data(batch: ImportBatch, before: list, header: list) -> None:
    """The title and header rows above the data, reported as skipped (not data rows: not counted).

    A file whose header is its first row only (every plain CSV) gets no note: nothing was skipped
    that the reader would not expect."""
    if not before and len(header) == 1:
        return
    notes = []
    for number, cells in before:
        if not _is_blank(cells):
            value = cell_text(next((c for c in cells if cell_text(c)), ""))[:200]
            notes.append((number, value, "标题行，已跳过"))
    for number, cells in header:
        value = "|".join(t for t in (cell_text(c) for c in cells) if t)[:200]
        notes.append((number, value, "表头行，已跳过"))
    ImportIssue.objects.filter(batch=batch, row__lte=header[-1][0]).delete()
    ImportIssue.objects.bulk_create(
        ImportIssue(batch=batch, row=row, value=value, reason=reason, severity=ImportIssue.Severity.NOTE)
        for row, value, reason in notes
    )


# SQLite settings of the importing connection, restored afterwards (a task worker keeps its connection):
# a page cache that holds a chunk's index updates, and a checkpoint of the write-ahead log every ~200 MB
# instead of every 4 MB. With the default, every chunk's commit also copied its pages into the database
# file and synced it; pages that every chunk touches (index ends, the newest table pages) were copied
# again each time (commits: 15-17 s -> 10-11 s of a 1M-row import).
_SQLITE_IMPORT_PRAGMAS = {"cache_size": -262144, "wal_autocheckpoint": 50000}


class _import_connection_settings:
    def __enter__(self) -> None:
        self.saved: dict[str, Any] = {}
        if connection.vendor != "sqlite":
            return
        with connection.cursor() as cur:
            for name, value in _SQLITE_IMPORT_PRAGMAS.items():
                cur.execute(f"PRAGMA {name}")
                self.saved[name] = cur.fetchone()[0]
                cur.execute(f"PRAGMA {name} = {int(value)}")

    def __exit__(self, *exc) -> None:
        if not self.saved:
            return
        try:
            with connection.cursor() as cur:
                for name, value in self.saved.items():
                    cur.execute(f"PRAGMA {name} = {int(value)}")
        except DatabaseError:  # the connection failed with the import: the batch records why, not this
            log.warning("could not restore the connection settings after an import", exc_info=True)


def _commit(
    batch: ImportBatch,
    chunks: Iterator[MappedChunk],
    writer: BulkWriter,
    progress,
    collector: _collection_paused,
) -> None:
    for mapped in chunks:
        with transaction.atomic():
            counts, issues, result = _write_chunk(mapped, writer, batch)
            ImportIssue.objects.bulk_create(issues, batch_size=1000)
            ImportChunk.objects.create(
                batch=batch,
                index=mapped.index,
                first_row=mapped.first_row,
                last_row=mapped.last_row,
                rows=counts.rows,
                created=counts.created,
                updated=counts.updated,
                unchanged=counts.unchanged,
                rejected=counts.rejected,
                ignored=counts.ignored,
                committed_at=timezone.now(),
            )
            _add_counts(batch, counts)
            batch.chunks_committed = mapped.index + 1
            batch.rows_committed = mapped.last_row
            if batch.first_case_id is None and result.first_case_id is not None:
                batch.first_case_id = result.first_case_id
            _chunk_committing(batch, mapped.index)
            batch.save()
        collector.tick()
        if progress:
            progress(batch)


class _Rollback(Exception):
    pass


def _validate(
    batch: ImportBatch,
    chunks: Iterator[MappedChunk],
    writer: BulkWriter,
    progress,
    collector: _collection_paused,
) -> None:
    """A dry run: the real write path inside one transaction that is rolled back, so the report is exact."""
    all_issues: list[ImportIssue] = []
    counts_total = _ChunkCounts()
    try:
        with transaction.atomic():
            for mapped in chunks:
                counts, issues, _result = _write_chunk(mapped, writer, batch)
                all_issues.extend(issues)
                for name in _ChunkCounts.__slots__:
                    setattr(counts_total, name, getattr(counts_total, name) + getattr(counts, name))
                collector.tick()
                if progress:
                    progress(batch)
            raise _Rollback
    except _Rollback:
        pass
    _add_counts(batch, counts_total)
    batch.chunks_committed = 0
    ImportIssue.objects.bulk_create(all_issues, batch_size=1000)
    batch.save()


# --- systems: batch endpoint and webhook ---------------------------------------------------------


def _apply_value_maps(source: ImportSource | None, item: dict[str, Any]) -> dict[str, Any]:
    data = dict(item)
    if source is not None:
        data.setdefault("external_source", identity(source))
        for name in ("channel", "category", "kind"):
            value = data.get(name)
            mapped = (source.value_maps.get(name) or {}).get(str(value)) if value is not None else None
            if mapped:
                data[name] = mapped
        for key, value in (source.defaults or {}).items():
            if key in ("channel", "kind", "category") and not data.get(key):
                data[key] = value
    return data


def intake_batch(
    actor,
    items: list[Any],
    *,
    idempotency_key: str | None = None,
    source: ImportSource | str | None = None,
) -> dict[str, Any]:
    """Register up to 1,000 complaints; one result per item (created / existing / rejected).

    Idempotent per item by external id / client key (through `register_many`), and per request by
    `Idempotency-Key`: a retry gets the first response, the same key with another body is a 409.
    """
    if not isinstance(items, list) or not items:
        raise Invalid("items 不能为空", details={"items": "至少一条"})
    if len(items) > MAX_BATCH_ITEMS:
        raise Invalid(f"每批最多 {MAX_BATCH_ITEMS} 条", details={"items": f"最多 {MAX_BATCH_ITEMS} 条"})
    src = get_source(source) if source else None
    user = actor if getattr(actor, "is_authenticated", False) else None
    fingerprint = request_fingerprint({"items": items, "source": src.code if src else None})
    if idempotency_key:
        earlier = BatchRequest.objects.filter(key=idempotency_key, user=user).first()
        if earlier is not None:
            if earlier.request_hash != fingerprint:
                raise Conflict("同一幂等键已用于不同的请求内容", code="idempotency_key_reused")
            return earlier.response
    results = []
    # The new complaints as one set, the others one by one (kesu.cases.services.register_many).
    objects = {
        index: _apply_value_maps(src, item) for index, item in enumerate(items) if isinstance(item, dict)
    }
    registered = dict(zip(objects, register_many(actor, list(objects.values())), strict=True))
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            results.append(
                {"index": index, "status": "rejected", "number": None, "errors": {"item": "须为对象"}}
            )
            continue
        reg = registered[index]
        if isinstance(reg, DomainError):
            exc = reg
            results.append(
                {
                    "index": index,
                    "status": "rejected",
                    "number": None,
                    "errors": exc.details if isinstance(exc.details, dict) else {"item": exc.message},
                    "message": exc.message,
                }
            )
            continue
        results.append(
            {
                "index": index,
                "status": "created" if reg.created else "existing",
                "number": reg.case.number,
                "errors": None,
            }
        )
    response = {
        "created": sum(r["status"] == "created" for r in results),
        "existing": sum(r["status"] == "existing" for r in results),
        "rejected": sum(r["status"] == "rejected" for r in results),
        "results": results,
    }
    if idempotency_key:
        try:
            with transaction.atomic():
                BatchRequest.objects.create(
                    key=idempotency_key, user=user, request_hash=fingerprint, response=response
                )
        except IntegrityError:
            pass  # a concurrent retry stored the same outcome (items are idempotent by external id)
    return response


def webhook_signature(secret: str, timestamp: str, nonce: str, body: bytes) -> str:
    """`sha256=<hex>` of HMAC-SHA256(secret, "<timestamp>.<nonce>." + body)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.{nonce}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_webhook(
    source_code: str,
    *,
    body: bytes,
    timestamp: str | None,
    nonce: str | None,
    signature: str | None,
    now: dt.datetime | None = None,
) -> ImportSource:
    """Check signature, timestamp window and nonce (in that order); raises 401/409 when refused."""
    now = now or timezone.now()
    source = ImportSource.objects.filter(code=source_code, is_active=True).first()
    if source is None or not source.webhook_secret:
        raise NotFound("Webhook 来源不存在或未启用", code="unknown_source")
    if not (timestamp and nonce and signature):
        raise Unauthenticated(
            "缺少签名头（X-Kesu-Timestamp、X-Kesu-Nonce、X-Kesu-Signature）", code="signature_missing"
        )
    if len(nonce) > 100:
        raise Unauthenticated("nonce 过长", code="invalid_nonce")
    expected = webhook_signature(source.webhook_secret, timestamp, nonce, body)
    given = signature if signature.startswith("sha256=") else "sha256=" + signature
    if not hmac.compare_digest(expected, given):
        raise Unauthenticated("签名校验失败", code="invalid_signature")
    try:
        sent = dt.datetime.fromtimestamp(int(timestamp), tz=dt.UTC)
    except (ValueError, OverflowError, OSError):
        raise Unauthenticated("时间戳无效", code="invalid_timestamp")
    if abs(now - sent) > WEBHOOK_WINDOW:
        raise Unauthenticated("请求时间戳超出允许的时间窗口（5 分钟）", code="stale_timestamp")
    try:
        with transaction.atomic():
            WebhookNonce.objects.create(source=source, nonce=nonce, seen_at=now)
    except IntegrityError:
        raise Conflict("重复的请求（nonce 已使用）", code="replayed_request")
    # Nonces older than twice the window can no longer pass the timestamp check: forget them.
    WebhookNonce.objects.filter(seen_at__lt=now - 2 * WEBHOOK_WINDOW).delete()
    return source


def receive_webhook(source: ImportSource, body: bytes) -> dict[str, Any]:
    """A verified webhook call: one complaint object, or `{"items": [...]}`."""
    try:
        payload = json.loads(body)
    except ValueError:
        raise Invalid("请求体不是有效的 JSON", code="malformed_json")
    problem = unstorable_text(payload)
    if problem:
        raise Invalid("请求体含有无法保存的字符", code="malformed_json", details={"error": problem})
    if isinstance(payload, dict) and "items" in payload:
        items = payload["items"]
    else:
        items = [payload]
    return intake_batch(None, items, source=source)
