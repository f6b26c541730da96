"""Text no database column can hold, the storage form of times for raw SQLite writes, and the
set-based write-back of changed rows (`update_rows`).

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
