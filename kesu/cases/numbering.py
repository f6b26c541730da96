"""Case numbers: TS + yyyymmdd (Asia/Shanghai) + a per-day counter, gap-free under concurrency.

The counter row is locked (`select_for_update`) inside the caller's transaction, so a
rolled-back registration gives its number back and two concurrent registrations never
get the same one. On SQLite the IMMEDIATE transaction mode serialises writers instead.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from django.db import IntegrityError, transaction

from kesu.cases.models import DailySequence

SHANGHAI = ZoneInfo("Asia/Shanghai")


def next_case_number(at: dt.datetime, prefix: str = "TS") -> str:
    day = at.astimezone(SHANGHAI).date()
    seq = _lock_sequence(day)
    seq.last += 1
    seq.save(update_fields=["last"])
    return f"{prefix}{day:%Y%m%d}{seq.last:04d}"


def _lock_sequence(day: dt.date) -> DailySequence:
    for _attempt in range(5):
        seq = DailySequence.objects.select_for_update().filter(day=day).first()
        if seq is not None:
            return seq
        try:
            # A savepoint, so that losing the race to create the row does not spoil the outer transaction.
            with transaction.atomic():
                return DailySequence.objects.create(day=day, last=0)
        except IntegrityError:
            continue
    raise RuntimeError("could not allocate a case number")
