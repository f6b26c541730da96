"""The initial migration: a company's first import into an empty Kesu (`kesu import --initial-load`).

A normal import keeps every index of the case, event, customer and deadline tables up to date row by
row. Into empty tables it is cheaper to load without the secondary indexes and build each once at
the end (one sorted pass instead of a B-tree insert per row and index). So `initial_load`:

1. refuses unless those tables are empty (or the caller confirms explicitly that they are not);
2. in ONE transaction: drops the secondary indexes, runs the normal import (`run_import`, same
   mapping, same rows, same events and deadlines), and creates the indexes again;
3. on any failure rolls the transaction back: DDL is transactional on SQLite and PostgreSQL, so
   the tables are as before (empty) with all their indexes, even after a crash mid-way.

The index definitions come from the models (Meta.indexes and fields with db_index), turned into SQL
by Django's schema editor, never copied here. Kept during the load, because the loader itself reads
through them for every chunk (without them each chunk would scan the tables loaded so far):
unique constraints (the external id that makes a re-run idempotent, case numbers, event
sequence), the customer's phone and ID number (customer matching) and the case's (customer,
received_at) index (earlier complaints of the same person, for grading). On PostgreSQL the
foreign-key checks are deferred to the commit (`SET CONSTRAINTS ALL DEFERRED`) and the tables analysed afterwards,
and during the load as they grow (`_StatisticsAsTablesGrow`), with `PG_LOAD_SETTINGS` for the transaction.

Evaluated and not done (issue 18): `COPY … FREEZE` needs the table truncated in the same
subtransaction as the COPY, but every chunk runs in its own savepoint (the normal import's chunk
transaction, nested); it would save the hint-bit writes and the first VACUUM after the load, not time
inside it. `wal_level = minimal` would let COPY into a table truncated in the same transaction skip
the WAL, but it is a server setting (restart, no replicas or WAL archiving, a new base backup after):
the operator's decision for a one-off migration, not something the loader can switch.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from kesu.cases.models import Case, CaseEvent, Customer
from kesu.errors import Conflict
from kesu.intake import services
from kesu.intake.models import ImportBatch
from kesu.sla.models import StageDeadline

log = logging.getLogger("kesu.intake")

TABLES = (Customer, Case, CaseEvent, StageDeadline)
# (model, columns) of the secondary indexes the loader reads through itself: not dropped. Each entry
# must be the exact column tuple of an index the models declare (tests/intake/test_initial_load.py):
# an entry naming no index keeps nothing, and the read it was meant for scans the table instead.
KEPT = frozenset(
    {
        # customer matching: `Customer.phone` / `id_number` looked up per chunk.
        (Customer, ("phone",)),
        (Customer, ("id_number",)),
        # grading's earlier complaints of the same customers, per chunk (kesu.cases.grading): the
        # case table has no single-column customer index, only (customer_id, received_at). It was
        # listed as ("customer_id",), matched nothing and was dropped, so every chunk scanned all
        # cases loaded so far (O(n²) in the rows loaded).
        (Case, ("customer_id", "received_at")),
    }
)


@dataclass
class SecondaryIndex:
    model: Any
    name: str
    columns: tuple[str, ...]
    create: Any  # a schema-editor Statement
    remove: Any


class LoadFailed(Exception):
    """The import inside the load transaction did not complete: roll everything back."""


def secondary_indexes(editor) -> list[SecondaryIndex]:
    """The secondary (non-unique) indexes of the case, event, customer and deadline tables, as
    the models declare them, with the schema editor's statements to create and drop each."""
    out = []
    for model in TABLES:
        for index in model._meta.indexes:
            columns = tuple(model._meta.get_field(f.lstrip("-")).column for f in index.fields)
            out.append(
                SecondaryIndex(
                    model,
                    index.name,
                    columns,
                    index.create_sql(model, editor),
                    index.remove_sql(model, editor),
                )
            )
        for field in model._meta.local_concrete_fields:
            if not field.db_index or field.unique or field.primary_key:
                continue
            # The same statements `migrate` ran for the field (on PostgreSQL a text field's
            # LIKE-prefix twin included).
            for stmt in editor._field_indexes_sql(model, field):
                name = str(stmt.parts["name"]).strip('"')
                out.append(
                    SecondaryIndex(model, name, (field.column,), stmt, editor._delete_index_sql(model, name))
                )
    return out


def schema_editor():
    """Django's schema editor, used to build and run single index statements. Not entered as a
    context: on SQLite entering it switches foreign-key checks off, which cannot be done inside the
    load's transaction; `deferred_sql` is what entering would have set up."""
    editor = connection.schema_editor()
    editor.deferred_sql = []
    return editor


def index_names(models=TABLES) -> dict[str, set[str]]:
    """The names of every index and constraint of the tables, as the database reports them."""
    out = {}
    with connection.cursor() as cur:
        for model in models:
            table = model._meta.db_table
            out[table] = set(connection.introspection.get_constraints(cur, table))
    return out


def row_counts() -> dict[str, int]:
    return {m._meta.db_table: m.objects.count() for m in TABLES}


def initial_load(
    source,
    path: str | Path,
    *,
    actor=None,
    allow_non_empty: bool = False,
    chunk_size: int = services.DEFAULT_CHUNK_SIZE,
    sheet: str | None = None,
    file_name: str | None = None,
    progress=None,
    now=None,
) -> ImportBatch:
    """Load `path` into empty tables with their secondary indexes dropped and rebuilt after, all or
    nothing. Raises `Conflict` when the tables hold rows and `allow_non_empty` is not set."""
    source = services.get_source(source)
    path = Path(path)
    filled = {table: n for table, n in row_counts().items() if n}
    if filled and not allow_non_empty:
        raise Conflict(
            "初始迁移只用于空库：案件、事件、客户或时限表中已有数据（"
            + "，".join(f"{t} {n} 行" for t, n in filled.items())
            + "）。如确需在已有数据上使用，请明确确认。",
            code="tables_not_empty",
            details=filled,
        )
    editor = schema_editor()
    existing = index_names()
    planned = [
        ix
        for ix in secondary_indexes(editor)
        if (ix.model, ix.columns) not in KEPT and ix.name in existing[ix.model._meta.db_table]
    ]
    try:
        with transaction.atomic():
            if connection.vendor == "postgresql":
                with connection.cursor() as cur:
                    cur.execute("SET CONSTRAINTS ALL DEFERRED")
                    for name, value in PG_LOAD_SETTINGS.items():
                        cur.execute("SELECT set_config(%s, %s, true)", [name, value])
            for ix in planned:
                editor.execute(ix.remove)
            log.info("initial load: %d secondary indexes dropped", len(planned))
            batch = services.run_import(
                source,
                path,
                actor=actor,
                chunk_size=chunk_size,
                sheet=sheet,
                file_name=file_name,
                progress=_StatisticsAsTablesGrow(progress),
                now=now,
            )
            if batch.state != ImportBatch.State.COMPLETED:
                raise LoadFailed(batch.error)
            for ix in planned:
                editor.execute(ix.create)
            log.info("initial load: %d secondary indexes rebuilt", len(planned))
    except Exception as exc:  # rolled back: tables and indexes as before
        log.exception("initial load of %s failed, rolled back", path)
        return ImportBatch.objects.create(
            source=source,
            mode=ImportBatch.Mode.COMMIT,
            state=ImportBatch.State.FAILED,
            file_name=(file_name or path.name)[:255],
            file_sha256=services.file_sha256(path),
            file_size=path.stat().st_size,
            chunk_size=chunk_size,
            started_by_id=actor.pk if getattr(actor, "is_authenticated", False) else None,
            error=f"初始迁移失败，已全部撤销（数据表保持原样）：{exc}",
            finished_at=timezone.now(),
        )
    if connection.vendor == "postgresql":  # fresh statistics for the planner after a bulk load
        _analyze()
    return batch


# Settings of the load's own transaction on PostgreSQL (`SET LOCAL`: gone with its commit or rollback).
# The index builds at the end sort each table's keys: with the default 64 MB a 1M-row index spills to
# temporary files and merges them, and a parallel build (max_parallel_maintenance_workers, on by
# default) gets fewer workers, since each needs 32 MB of it. synchronous_commit is not set: the load
# commits once, so waiting for one WAL flush costs nothing worth saving.
PG_LOAD_SETTINGS = {"maintenance_work_mem": "256MB"}


# The columns the loader's own per-chunk lookups filter on (kesu.intake.bulk: rows imported before by
# external id, customers by phone and ID number, earlier complaints by customer, foreign keys by id),
# the only statistics the planner needs during the load. A full ANALYZE also samples and sorts the wide
# text columns (description, demands, event payloads) of all four tables: at 100k rows that was 3.6 of
# the server's 8.9 CPU s. The event and deadline tables are not read by those lookups at all.
LOOKED_UP = {
    Case: ("id", "external_source", "external_id", "customer_id", "kind", "status"),
    Customer: ("id", "phone", "id_number"),
}


def _analyze(columns: dict[Any, tuple[str, ...]] | None = None) -> None:
    """ANALYZE the loaded tables: all columns of all four, or only `columns` ({model: column names})."""
    with connection.cursor() as cur:
        for model in TABLES if columns is None else columns:
            table = model._meta.db_table
            if columns is None:
                cur.execute(f'ANALYZE "{table}"')
            else:
                names = ", ".join(f'"{model._meta.get_field(c).column}"' for c in columns[model])
                cur.execute(f'ANALYZE "{table}" ({names})')


class _StatisticsAsTablesGrow:
    """The caller's progress callback, plus (PostgreSQL) `ANALYZE` of the loaded tables each time the
    rows created have doubled since the last one, from the first chunk on.

    The load is one transaction, so autovacuum never sees its rows and the planner keeps the empty
    tables' statistics all the way through. Each chunk's lookups (earlier complaints by customer,
    customers by phone, rows by external id: 10,000 values in `= ANY(…)`) were then estimated to
    match most of the table and planned as sequential scans of everything loaded so far: O(n²) in
    the rows, the load's database time growing faster than its size (at 1M rows it exceeded the
    normal import's, which commits per chunk and gets autovacuum's statistics). `ANALYZE` inside the
    transaction counts its own uncommitted rows; doubling keeps the passes few (~7 for 1M rows, each a
    sample of at most 30,000 rows per table), and each pass reads only the columns those lookups filter
    on (`LOOKED_UP`); the full ANALYZE runs once, after the commit.
    """

    def __init__(self, progress) -> None:
        self.progress = progress
        self.analyzed_at = 0
        self.enabled = connection.vendor == "postgresql"

    def __call__(self, batch: ImportBatch) -> None:
        if self.enabled and batch.created >= max(1, 2 * self.analyzed_at):
            _analyze(LOOKED_UP)
            self.analyzed_at = batch.created
        if self.progress is not None:
            self.progress(batch)
