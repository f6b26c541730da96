"""Case numbers: TS + yyyymmdd (Asia/Shanghai) + a per-day counter, gap-free under concurrency.

One statement advances the day's counter (an upsert with RETURNING): on PostgreSQL it locks the counter
row until the caller's transaction ends, so a rolled-back registration gives its numbers back and two
concurrent registrations never get the same one; on SQLite the IMMEDIATE transaction mode serialises
writers instead. `next_case_numbers` takes a whole set of numbers in the same one statement (the batch
intake).
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from django.db import connection

from kesu.cases.models import DailySequence

SHANGHAI = ZoneInfo("Asia/Shanghai")


def next_case_number(at: dt.datetime, prefix: str = "TS") -> str:
    return next_case_numbers(at, 1, prefix)[0]


def next_case_numbers(at: dt.datetime, n: int, prefix: str = "TS") -> list[str]:
    """`n` consecutive numbers of the day of `at`, in one statement."""
    day = at.astimezone(SHANGHAI).date()
    table = connection.ops.quote_name(DailySequence._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f'INSERT INTO {table} ("day", "last") VALUES (%s, %s) '
            f'ON CONFLICT ("day") DO UPDATE SET "last" = {table}."last" + excluded."last" RETURNING "last"',
            [connection.ops.adapt_datefield_value(day), n],
        )
        last = int(cursor.fetchone()[0])
    return [f"{prefix}{day:%Y%m%d}{k:04d}" for k in range(last - n + 1, last + 1)]
