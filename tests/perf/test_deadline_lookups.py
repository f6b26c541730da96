"""A deadline's cost does not grow with its length: the calendar days it looks at are bounded.

Registration computes every stage's deadline, and the import's reader does it for every open
record. "N working days" is a lookup in the year's working days, and "N working hours" skips the
whole days from the running totals, so 250 working days read no more days than 15 (the walk read
every day in between). Counted on a warmed calendar: the days each size reads after the first call.
"""

from __future__ import annotations

import datetime as dt

import chinese_calendar as cc

from kesu.calendar.workcalendar import SHANGHAI, DayInfo, Duration, WorkCalendar

EXCEPTIONS = {d: DayInfo(d, False, "holiday", str(n)) for d, n in cc.holidays.items()}
EXCEPTIONS.update({d: DayInfo(d, True, "adjusted_workday", str(n)) for d, n in cc.workdays.items()})
START = dt.datetime(2024, 9, 27, 16, 45, 12, tzinfo=SHANGHAI)  # before the National Day week


def _days_read(unit: str, amount: int) -> int:
    cal = WorkCalendar(EXCEPTIONS, set(range(2004, 2027)))
    duration = Duration(amount, unit)
    # Warm: the year's working days and the running totals are built once per calendar.
    cal.warn_at(unit, START, cal.deadline(START, duration).due, 0.8)
    reads = []
    day = cal.day

    def counting(d: dt.date) -> DayInfo:
        reads.append(d)
        return day(d)

    cal.day = counting
    start = START + dt.timedelta(minutes=7)
    cal.warn_at(unit, start, cal.deadline(start, duration).due, 0.8)
    return len(reads)


def test_working_days_read_no_days_whatever_the_length():
    counts = {n: _days_read("working_days", n) for n in (15, 250)}
    assert counts[15] == counts[250], counts
    assert counts[250] <= 4, counts


def test_working_hours_read_a_bounded_number_of_days_whatever_the_length():
    counts = {n: _days_read("working_hours", n) for n in (16, 800)}
    assert counts[16] == counts[800], counts
    assert counts[800] <= 8, counts
