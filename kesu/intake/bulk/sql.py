"""Low-level SQL of the bulk path: reserved ids and case numbers, many-row inserts (COPY on PostgreSQL,
`executemany` elsewhere), sliced `IN` lookups, column templates and cached JSON.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

from django.db import connection

from kesu.cases.models import DailySequence
from kesu.cases.storable import sqlite_datetime


def _is_pg() -> bool:
    return connection.vendor == "postgresql"


def allocate_ids(model, n: int) -> list[int]:
    """Reserve `n` primary keys of `model` (inside the caller's transaction)."""
    if n <= 0:
        return []
    table = model._meta.db_table
    with connection.cursor() as cur:
        if _is_pg():
            cur.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)", [table, n]
            )
            return [r[0] for r in cur.fetchall()]
        # SQLite: the write transaction (BEGIN IMMEDIATE) holds the database lock, so max+1.. is ours.
        cur.execute(
            f"SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = %s), 0), "
            f'COALESCE((SELECT MAX(id) FROM "{table}"), 0))',
            [table],
        )
        start = int(cur.fetchone()[0]) + 1
    return list(range(start, start + n))


def insert_rows(model, columns: list[str], rows: list[tuple]) -> None:
    """Insert many rows: COPY on PostgreSQL, executemany elsewhere."""
    if not rows:
        return
    table = model._meta.db_table
    cols = ", ".join(f'"{c}"' for c in columns)
    with connection.cursor() as cur:
        if _is_pg():
            with cur.cursor.copy(f'COPY "{table}" ({cols}) FROM STDIN') as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join(["%s"] * len(columns))
            cur.executemany(f'INSERT INTO "{table}" ({cols}) VALUES ({marks})', rows)


def copy_lines(model, columns: list[str], text: str) -> None:
    """Insert rows already in COPY text format (`copy_text` values, tab-separated, one line each) on
    PostgreSQL: the rows were formatted elsewhere (the case rows' file-derived columns in the import's
    reader process), so the writer only streams them."""
    if not text:
        return
    table = model._meta.db_table
    cols = ", ".join(f'"{c}"' for c in columns)
    with connection.cursor() as cur:
        with cur.cursor.copy(f'COPY "{table}" ({cols}) FROM STDIN') as copy:
            copy.write(text)


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def copy_escape(text: str | None) -> str:
    """A text value in COPY text form (the fast path of `copy_text` for a field known to hold text)."""
    if text is None:
        return "\\N"
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        return text.translate(_COPY_ESCAPES)
    return text


def copy_text(value: Any) -> str:
    """`value` as a field of PostgreSQL's COPY text format: what psycopg's `write_row` sends for it
    (None as \\N, booleans t/f, times in ISO form with their offset; in text the backslash, tab,
    newline and carriage return escaped, the only characters the format gives a meaning)."""
    if value is None:
        return "\\N"
    kind = type(value)
    if kind is str:
        return copy_escape(value)
    if isinstance(value, str):
        return copy_escape(str.__str__(value))  # a choices enum: its value
    if kind is bool:
        return "t" if value else "f"
    if kind is int:
        return str(value)
    if isinstance(value, dt.date):  # and datetimes: isoformat keeps the offset
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if kind is float:
        return repr(value)
    raise TypeError(f"no COPY text form for {kind.__name__}")


def select_in(sql: str, params: list[Any], values, *, size: int = 5000) -> list[tuple]:
    """Run `sql` (with one `IN ({in})` condition) for `values` in slices, without the ORM's per-value cost.

    PostgreSQL gets the slice as one array parameter (`= ANY(%s)`): planning a statement with
    thousands of separate parameters costs more than running it.
    """
    out: list[tuple] = []
    values = list(values)
    pg = _is_pg()
    if pg:
        assert "IN ({in})" in sql, sql
        sql = sql.replace("IN ({in})", "= ANY(%s)")
    with connection.cursor() as cur:
        for i in range(0, len(values), size):
            part = values[i : i + size]
            if pg:
                cur.execute(sql, [*params, part])
            else:
                cur.execute(sql.replace("{in}", ", ".join(["%s"] * len(part))), [*params, *part])
            out.extend(cur.fetchall())
    return out


def allocate_numbers(days: dict[dt.date, int], prefix: str = "TS") -> dict[dt.date, list[str]]:
    """Case numbers for `n` cases per day: one atomic upsert per day advances the day's counter."""
    out: dict[dt.date, list[str]] = {}
    table = DailySequence._meta.db_table
    if _is_pg() and days:
        # One statement for all the chunk's days (a 10,000-row chunk of a year's history spans ~300
        # days: one round trip instead of 300). Days in order, as the loop below, so concurrent imports
        # lock the counters in the same order.
        order = sorted(days)
        with connection.cursor() as cur:
            cur.execute(
                f'INSERT INTO "{table}" ("day", "last") '
                f"SELECT d, n FROM unnest(%s::date[], %s::integer[]) AS t(d, n) ORDER BY d "
                f'ON CONFLICT ("day") DO UPDATE SET "last" = "{table}"."last" + excluded."last" '
                f'RETURNING "day", "last"',
                [order, [days[d] for d in order]],
            )
            lasts = dict(cur.fetchall())
        for day in order:
            last, n = int(lasts[day]), days[day]
            stamp = f"{prefix}{day:%Y%m%d}"
            out[day] = [f"{stamp}{k:04d}" for k in range(last - n + 1, last + 1)]
        return out
    with connection.cursor() as cur:
        for day, n in sorted(days.items()):
            cur.execute(
                f'INSERT INTO "{table}" ("day", "last") VALUES (%s, %s) '
                f'ON CONFLICT ("day") DO UPDATE SET "last" = "{table}"."last" + excluded."last" '
                f'RETURNING "last"',
                [day if _is_pg() else day.isoformat(), n],
            )
            last = int(cur.fetchone()[0])
            stamp = f"{prefix}{day:%Y%m%d}"
            out[day] = [f"{stamp}{k:04d}" for k in range(last - n + 1, last + 1)]
    return out


def _dt_converter():
    if _is_pg():
        return lambda v: v
    return lambda v: None if v is None else sqlite_datetime(v)


def _column_template(model) -> tuple[list[str], dict[str, Any]]:
    """Column names and their default DB values, from the model (so fields added later are filled too)."""
    columns, defaults = [], {}
    for f in model._meta.concrete_fields:
        columns.append(f.column)
        default = f.get_default() if f.has_default() else (None if f.null else f.get_default())
        if f.get_internal_type() == "JSONField":
            defaults[f.column] = json.dumps(default if default is not None else None, ensure_ascii=False)
        elif f.get_internal_type() == "DecimalField" and default is not None and not _is_pg():
            defaults[f.column] = str(default)
        else:
            defaults[f.column] = default
    return columns, defaults


def _jd(cache: dict[Any, str], value: Any) -> str:
    """`json.dumps(value)` for the few distinct codes of an import, cached (bounded)."""
    hit = cache.get(value)
    if hit is None:
        hit = json.dumps(value, ensure_ascii=False, default=str)
        if len(cache) < 10000:
            cache[value] = hit
    return hit
