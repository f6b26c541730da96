"""Foreign keys of bulk-inserted rows, checked once per chunk instead of once per row (PostgreSQL).

PostgreSQL checks every foreign key of every inserted row with a trigger; Django declares them
deferred, so a chunk's commit runs one lookup per row and reference. At a million imported cases
(cases, events, stages, rollup rows: ~8 million references) that took 36 s of a 148 s import,
although a chunk only points at a few distinct rows outside itself: its channels, categories,
policy, the customers it found, the earlier cases it counts as repeats.

When the database role may set `session_replication_role` (a superuser, or on PostgreSQL 15+ a
role given `GRANT SET ON PARAMETER session_replication_role TO <role>`), the importer:

1. collects the distinct ids its rows reference, leaving out the rows the chunk itself creates;
2. checks that each exists and locks it `FOR KEY SHARE`, as the per-row check does, so none can be
   deleted before the chunk commits; a missing one fails the chunk (nothing of it is written);
3. inserts with the per-row triggers off for this transaction only (`SET LOCAL`, back on before
   anything else is written in it).

Without the privilege (and on SQLite) the database checks each row as usual. Either way the same
rows are refused.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.db import IntegrityError, connection, models


def may_check_per_chunk() -> bool:
    """Whether this connection may switch off the per-row foreign-key triggers for its own inserts."""
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cur:
        if connection.pg_version >= 150000:
            cur.execute("SELECT has_parameter_privilege('session_replication_role', 'SET')")
        else:
            cur.execute("SELECT current_setting('is_superuser') = 'on'")
        return bool(cur.fetchone()[0])


class References:
    """The distinct ids that a chunk's rows point to, per referenced model."""

    def __init__(self) -> None:
        self.ids: dict[type[models.Model], set[Any]] = {}

    def add_rows(
        self, model: type[models.Model], columns: Sequence[str], rows: Iterable[Sequence[Any]]
    ) -> None:
        """Note every foreign key value of `rows` (tuples in `columns` order) of `model`."""
        rows = rows if isinstance(rows, list) else list(rows)
        for f in model._meta.concrete_fields:
            if f.remote_field is None or f.column not in columns:
                continue
            at = columns.index(f.column)
            found = {row[at] for row in rows}
            found.discard(None)
            if found:
                self.ids.setdefault(f.related_model, set()).update(found)

    def verify_and_lock(self, created: dict[type[models.Model], set[Any]]) -> None:
        """Raise IntegrityError unless every noted id exists (or is one of `created`); lock those that exist."""
        with connection.cursor() as cur:
            for model, ids in self.ids.items():
                wanted = ids - created.get(model, set())
                if not wanted:
                    continue
                table, pk = model._meta.db_table, model._meta.pk.column
                wanted_list = sorted(wanted)
                cur.execute(
                    f'SELECT "{pk}" FROM "{table}" WHERE "{pk}" = ANY(%s) FOR KEY SHARE', [wanted_list]
                )
                missing = wanted - {r[0] for r in cur.fetchall()}
                if missing:
                    shown = ", ".join(str(v) for v in sorted(missing)[:10])
                    raise IntegrityError(f"引用的记录不存在：{table}.{pk} = {shown}")


class triggers_off:
    """`SET LOCAL session_replication_role = replica` for the inserts inside, `origin` after them.

    Only for a caller that has verified the references itself (`References.verify_and_lock`). On an
    error the transaction is rolled back, which ends the setting too.
    """

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __enter__(self) -> None:
        if self.enabled:
            with connection.cursor() as cur:
                cur.execute("SET LOCAL session_replication_role = replica")

    def __exit__(self, exc_type, *exc) -> None:
        if self.enabled and exc_type is None:
            with connection.cursor() as cur:
                cur.execute("SET LOCAL session_replication_role = origin")
