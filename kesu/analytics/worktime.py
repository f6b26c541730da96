"""Working time between two instants, from the working-day calendar of `kesu.sla`."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

from kesu.analytics.periods import SHANGHAI
from kesu.calendar.workcalendar import get_calendar


def working_hours(start: dt.datetime, end: dt.datetime, branch_id: int | None = None) -> float:
    """Working hours between two instants on the deadline engine's calendar (business hours of
    working days; statutory holidays and adjusted weekends from the calendar table)."""
    if end <= start:
        return 0.0
    return get_calendar(branch_id).working_seconds_between(start, end) / 3600.0


@lru_cache(maxsize=20000)
def is_working_day(day: dt.date) -> bool:
    try:
        import chinese_calendar

        return bool(chinese_calendar.is_workday(day))
    except (NotImplementedError, ImportError):
        return day.weekday() < 5


def _fallback_seconds(start: dt.datetime, end: dt.datetime) -> float:
    start, end = start.astimezone(SHANGHAI), end.astimezone(SHANGHAI)
    total = 0.0
    day = start.date()
    while day <= end.date():
        day_start = dt.datetime.combine(day, dt.time.min, tzinfo=SHANGHAI)
        if is_working_day(day):
            lo, hi = max(start, day_start), min(end, day_start + dt.timedelta(days=1))
            if hi > lo:
                total += (hi - lo).total_seconds()
        day += dt.timedelta(days=1)
    return total


def percentile(values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile (p90 of 10 values is the 9th smallest)."""
    if not values:
        return None
    ordered = sorted(values)
    import math

    rank = max(1, math.ceil(pct / 100.0 * len(ordered)))
    return ordered[rank - 1]
