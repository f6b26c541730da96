"""Working-day calendar and deadline arithmetic (first cut; the deadline engine replaces this).

All business deadlines go through this module (ARCHITECTURE.md invariant 2).
"""

from __future__ import annotations

import calendar as _cal
import datetime as dt
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


def _end_of_day(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(23, 59, 59), tzinfo=SHANGHAI)


def add_calendar_days(start: dt.datetime, days: int) -> dt.datetime:
    """Civil Code Art. 201: the start day is not counted; the period ends at 24:00 of its last day."""
    local = start.astimezone(SHANGHAI)
    return _end_of_day(local.date() + dt.timedelta(days=days))


def add_months(start: dt.datetime, months: int) -> dt.datetime:
    """Calendar months; a missing day (31 Feb) ends on the month's last day (Civil Code Art. 202)."""
    local = start.astimezone(SHANGHAI)
    month_index = local.month - 1 + months
    year, month = local.year + month_index // 12, month_index % 12 + 1
    day = min(local.day, _cal.monthrange(year, month)[1])
    return _end_of_day(dt.date(year, month, day))
