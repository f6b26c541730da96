"""Text no database column can hold, the storage form of times for raw SQLite writes, and the
set-based writes of new and changed rows (`insert_rows`, `update_rows`).

JSON may spell a NUL character (\\u0000) or an unpaired surrogate (\\ud800); Python decodes them,
and PostgreSQL then refuses the row half-way through a write. No complaint text legitimately
contains them, so every JSON door (the API parser, signed webhooks) refuses them up front.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

from django.db import connection
from django.db.models import Model

SHANGHAI = ZoneInfo("Asia/Shanghai")
_EIGHT_HOURS = dt.timedelta(hours=8)


def unstorable_text(value: Any) -> str | None:
    """Why `value` (decoded JSON) cannot be stored, or None when it can."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return "text contains a NUL character"
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return "text contains an unpaired surrogate"
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return None


def sqlite_datetime(value: dt.datetime) -> str:
    """Django's SQLite storage form of an aware datetime (naive UTC "YYYY-MM-DD HH:MM:SS[.ffffff]"),
    for the bulk paths that write rows without the ORM and its per-value checks."""
    if value.tzinfo is SHANGHAI and value.year >= 1992:  # a fixed +08:00 since 1992: no zone lookup
        return (value.replace(tzinfo=None) - _EIGHT_HOURS).isoformat(" ")
    return value.astimezone(dt.UTC).replace(tzinfo=None).isoformat(" ")


def update_rows(objs: Sequence[Model], fields: Sequence[str]) -> int:
    """Write `fields` of these model instances back to their rows: one `UPDATE … WHERE id = %s`
    sent with `executemany` (one statement for the set).

    What `QuerySet.bulk_update` writes, without the `CASE WHEN id = … THEN …` expression it builds per
    row and field: that expression costs more CPU than the database's own work (a sweep's chunk of
    500 rows spent most of its time building it). The values go through each field's
    `get_db_prep_save`, as a `save()` would send them; nothing else (no signals, no `auto_now`)."""
    if not objs or not fields:
        return 0
    meta = objs[0]._meta
    concrete = [meta.get_field(name) for name in fields]
    quote = connection.ops.quote_name
    sets = ", ".join(f"{quote(f.column)} = %s" for f in concrete)
    sql = f"UPDATE {quote(meta.db_table)} SET {sets} WHERE {quote(meta.pk.column)} = %s"
    rows = [
        [f.get_db_prep_save(getattr(obj, f.attname), connection) for f in concrete] + [obj.pk] for obj in objs
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)
    return len(rows)


def insert_rows(objs: Sequence[Model], *, batch_size: int = 500) -> None:
    """Insert these new instances of one model and set their primary keys: what `bulk_create(objs)`
    writes (each value through its field's `pre_save` and `get_db_prep_save`, related instances' ids
    taken as `bulk_create` takes them), split at the backend's limit of parameters as it splits.

    On SQLite without `bulk_create`'s per-value compile (placeholder, expression checks): for a batch
    of registrations (cases, events, stages; ~130 values a case) that was over a third of the batch's
    CPU (bench/write22_micro.py: 101-114 → 89-94 ms for 100). On PostgreSQL `bulk_create` itself
    (one array per column through UNNEST): the same insert without the compile measured no cheaper
    there on the shared machine (batch of 100: 84-103 against 87-95 ms), so the simpler path stays.
    For models without database defaults or expressions as values; no signals
    (`bulk_create` sends none either)."""
    if not objs:
        return
    if connection.vendor != "sqlite":
        type(objs[0])._default_manager.bulk_create(objs, batch_size=batch_size)
        return
    meta = objs[0]._meta
    fields = [f for f in meta.concrete_fields if not f.primary_key and not f.generated]
    pk = meta.pk
    quote = connection.ops.quote_name
    head = f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(f.column) for f in fields)})"
    tail = f" RETURNING {quote(pk.column)}"
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    # The backend's limit of parameters a statement, as `bulk_create` splits (SQLite: 999).
    batch_size = max(1, min(batch_size, connection.ops.bulk_batch_size(fields, objs)))
    for obj in objs:
        obj._prepare_related_fields_for_save(operation_name="bulk_create")
    with connection.cursor() as cursor:
        for start in range(0, len(objs), batch_size):
            chunk = objs[start : start + batch_size]
            values = [f.get_db_prep_save(f.pre_save(obj, True), connection) for obj in chunk for f in fields]
            cursor.execute(f"{head} VALUES {', '.join([row] * len(chunk))}{tail}", values)
            for obj, (pk_value,) in zip(chunk, cursor.fetchall(), strict=True):
                setattr(obj, pk.attname, pk_value)
                obj._state.adding = False
                obj._state.db = connection.alias
