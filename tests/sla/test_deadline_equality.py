"""The lookup-based deadline arithmetic gives exactly the results of the day-by-day walk it replaced.

`WalkingCalendar` keeps the walk (the code of `WorkCalendar.add_working_days`,
`add_working_seconds` and `working_days_between` before the per-year working-day lists and the
skip over whole days) as the reference. Every clock kind is compared over thousands of random start
times (with microseconds) and the edges people hit (midnight, the business-hours boundaries, the
last second of a day, month and year ends, the days around holidays and adjusted weekends), on
calendars with statutory holidays and 调休, company closures, a branch's own working weekend, years
nobody entered (the statutory fallback), close-of-business and 24-hour business hours.
"""

from __future__ import annotations

import datetime as dt
import random

import chinese_calendar as cc
import pytest

from kesu.calendar.workcalendar import (
    MAX_SCAN_DAYS,
    SHANGHAI,
    UNITS,
    DayInfo,
    Deadline,
    Duration,
    WorkCalendar,
)


class WalkingCalendar(WorkCalendar):
    """The reference: the day-by-day walks as they were (kesu 9159623)."""

    def add_working_days(self, start, days, explain=None):
        local = start.astimezone(SHANGHAI)
        d = local.date()
        counted = 0
        for _ in range(MAX_SCAN_DAYS):
            if counted >= days:
                break
            d += dt.timedelta(days=1)
            info = self.day(d)
            if info.is_workday:
                counted += 1
                if explain is not None and info.kind in ("adjusted_workday", "company_open"):
                    explain.append(f"第{counted}个工作日 " + info.reason())
            elif explain is not None:
                explain.append("跳过 " + info.reason())
        else:
            raise ValueError("日历中找不到足够的工作日")
        return Deadline(self.end_of_day(d), self._fallback_years(local.date(), d), explain or [])

    def add_working_seconds(self, start, seconds, explain=None):
        local = start.astimezone(SHANGHAI)
        remaining = float(seconds)
        d = local.date()
        for _ in range(MAX_SCAN_DAYS):
            info = self.day(d)
            if info.is_workday:
                for ps, pe in self._periods_of(d):
                    seg_start = max(ps, local)
                    if pe <= seg_start:
                        continue
                    avail = (pe - seg_start).total_seconds()
                    if remaining <= avail:
                        due = seg_start + dt.timedelta(seconds=remaining)
                        return Deadline(due, self._fallback_years(local.date(), d), explain or [])
                    remaining -= avail
            elif explain is not None:
                explain.append("跳过 " + info.reason())
            d += dt.timedelta(days=1)
        raise ValueError("日历中找不到足够的工作时间")

    def _fallback_years(self, a, b):
        lo, hi = min(a, b), max(a, b)
        return tuple(y for y in range(lo.year, hi.year + 1) if y not in self.known_years)

    def _periods_of(self, d):
        for ps, pe in self.periods:
            yield dt.datetime.combine(d, ps, tzinfo=SHANGHAI), dt.datetime.combine(d, pe, tzinfo=SHANGHAI)

    def _seconds_within(self, d, a, b):
        if not self.is_workday(d):
            return 0.0
        total = 0.0
        for ps, pe in self._periods_of(d):
            lo = ps if a is None or a < ps else a
            hi = pe if b is None or b > pe else b
            if hi > lo:
                total += (hi - lo).total_seconds()
        return total

    def working_days_between(self, a, b):
        da, db = a.astimezone(SHANGHAI).date(), b.astimezone(SHANGHAI).date()
        count = 0
        d = da + dt.timedelta(days=1)
        while d <= db:
            if self.is_workday(d):
                count += 1
            d += dt.timedelta(days=1)
        return count


NATIONAL = {d: DayInfo(d, False, "holiday", str(n)) for d, n in cc.holidays.items()}
NATIONAL.update({d: DayInfo(d, True, "adjusted_workday", str(n)) for d, n in cc.workdays.items()})


def _company() -> dict[dt.date, DayInfo]:
    """National days, a company closure (the week between Christmas and New Year and a summer
    week), and a branch that works two weekends (its own rows win, as `_build` orders them)."""
    days = dict(NATIONAL)
    for start in (dt.date(2024, 12, 23), dt.date(2025, 8, 4), dt.date(2025, 12, 29)):
        for i in range(5):
            d = start + dt.timedelta(days=i)
            days[d] = DayInfo(d, False, "company_closed", "公司年假")
    for d in (dt.date(2025, 3, 8), dt.date(2025, 3, 9), dt.date(2024, 11, 30)):
        days[d] = DayInfo(d, True, "company_open", "分公司加班")
    return days


CALENDARS = {
    "national": (NATIONAL, set(range(2004, 2027)), {}),
    "company_branch": (_company(), set(range(2004, 2027)), {}),
    # 2026 and later not entered: the statutory festivals of `holidays`, without adjusted weekends.
    "fallback_years": (NATIONAL, set(range(2004, 2026)), {}),
    "close_of_business": (
        NATIONAL,
        set(range(2004, 2027)),
        {
            "periods": ((dt.time(8, 30), dt.time(12, 0)), (dt.time(14, 0), dt.time(17, 30))),
            "close_of_business": True,
        },
    ),
    # A 24-hour desk: its day runs to the last second (24:00 is stored as 23:59:59).
    "round_the_clock": (
        NATIONAL,
        set(range(2004, 2027)),
        {"periods": ((dt.time(0, 0), dt.time(23, 59, 59)),)},
    ),
    "one_period_with_seconds": (
        NATIONAL,
        set(range(2004, 2027)),
        {"periods": ((dt.time(9, 0, 30), dt.time(17, 0, 15)),)},
    ),
    # Sub-second business hours: not whole seconds, so the walk itself runs (the guard of the skip).
    "sub_second_periods": (
        NATIONAL,
        set(range(2004, 2027)),
        {"periods": ((dt.time(9, 0, 0, 250000), dt.time(12, 0)), (dt.time(13, 0), dt.time(18, 0, 0, 500)))},
    ),
}


def _pair(name: str) -> tuple[WorkCalendar, WalkingCalendar]:
    exceptions, known, kw = CALENDARS[name]
    return WorkCalendar(exceptions, known, **kw), WalkingCalendar(exceptions, known, **kw)


def _edge_starts() -> list[dt.datetime]:
    """Boundaries: midnight, business-hours edges (± a second and a microsecond), the day's last second,
    month and year ends, and the days around the Spring Festival, National Day and the closures."""
    days = [
        dt.date(2024, 2, 8), dt.date(2024, 2, 9), dt.date(2024, 2, 17), dt.date(2024, 2, 18),
        dt.date(2024, 2, 29), dt.date(2024, 9, 30), dt.date(2024, 10, 7), dt.date(2024, 10, 12),
        dt.date(2024, 12, 20), dt.date(2024, 12, 31), dt.date(2025, 1, 31), dt.date(2025, 1, 26),
        dt.date(2025, 3, 7), dt.date(2025, 3, 8), dt.date(2025, 4, 30), dt.date(2025, 8, 1),
        dt.date(2025, 12, 26), dt.date(2025, 12, 31), dt.date(2026, 2, 28), dt.date(2026, 12, 31),
    ]  # fmt: skip
    times = [
        dt.time(0, 0), dt.time(0, 0, 0, 1), dt.time(8, 29, 59), dt.time(8, 30), dt.time(8, 59, 59, 999999),
        dt.time(9, 0), dt.time(9, 0, 30), dt.time(11, 59, 59), dt.time(12, 0), dt.time(12, 0, 0, 1),
        dt.time(13, 30), dt.time(14, 0), dt.time(17, 30), dt.time(17, 59, 59), dt.time(18, 0),
        dt.time(18, 0, 1), dt.time(23, 59, 59), dt.time(23, 59, 59, 999999),
    ]  # fmt: skip
    return [dt.datetime.combine(d, t, tzinfo=SHANGHAI) for d in days for t in times]


def _random_starts(n: int, seed: int) -> list[dt.datetime]:
    rnd = random.Random(seed)
    base = dt.datetime(2024, 1, 1, tzinfo=SHANGHAI)
    out = []
    for _ in range(n):
        start = base + dt.timedelta(
            seconds=rnd.randrange(0, 3 * 365 * 86400), microseconds=rnd.randrange(0, 10**6)
        )
        # Half in UTC, as the database hands them over: the conversion must not change the day.
        out.append(start.astimezone(dt.UTC) if rnd.random() < 0.5 else start)
    return out


AMOUNTS = {
    "calendar_minutes": (0, 1, 30, 1440),
    "calendar_hours": (1, 24, 48),
    "calendar_days": (0, 1, 3, 15, 30, 60),
    "working_hours": (0, 1, 2, 4, 8, 16, 24, 72, 400),
    "working_days": (0, 1, 2, 3, 5, 7, 15, 30, 60, 250),
    "months": (1, 2, 3, 6, 12),
    "same_day": (1, 2, 3),
}


def _outcome(cal: WorkCalendar, start: dt.datetime, duration: Duration):
    try:
        return cal.deadline(start, duration).due
    except ValueError as exc:
        return ("error", str(exc))


@pytest.mark.parametrize("name", sorted(CALENDARS))
def test_every_clock_gives_the_walks_result(name):
    assert set(AMOUNTS) == set(UNITS)
    fast, walk = _pair(name)
    rnd = random.Random(name)
    starts = _edge_starts() + _random_starts(1500, seed=len(name))
    compared = 0
    for start in starts:
        for unit, amounts in AMOUNTS.items():
            duration = Duration(rnd.choice(amounts), unit)
            got, want = fast.deadline(start, duration), walk.deadline(start, duration)
            assert (got.due, got.due.utcoffset(), got.fallback_years) == (
                want.due,
                want.due.utcoffset(),
                want.fallback_years,
            ), (name, start, duration)
            # What registration derives from it: the warning time and the working time used.
            share = rnd.choice((0.5, 0.8, 0.9, 1 / 3))
            assert fast.warn_at(unit, start, got.due, share) == walk.warn_at(unit, start, want.due, share), (
                name,
                start,
                duration,
                share,
            )
            compared += 1
        # Pauses (`extend`) count working days between two instants; extensions add working days to a due.
        end = start + dt.timedelta(seconds=rnd.randrange(0, 90 * 86400))
        assert fast.working_days_between(start, end) == walk.working_days_between(start, end)
        assert fast.working_days_between(end, start) == walk.working_days_between(end, start) == 0
        for unit in ("working_days", "working_hours", "calendar_days"):
            due = start + dt.timedelta(days=rnd.randrange(1, 40))
            assert fast.extend(due, unit, start, end) == walk.extend(due, unit, start, end)
        seconds = rnd.choice((0.0, 1.5, 3599.999999, 10800.0, 37800.0, rnd.uniform(0, 2e6)))
        assert fast.add_working_seconds(start, seconds).due == walk.add_working_seconds(start, seconds).due
    assert compared == len(starts) * len(AMOUNTS)


def test_explanations_are_the_walks():
    fast, walk = _pair("company_branch")
    for start in _edge_starts()[::7]:
        for duration in (
            Duration(15, "working_days"),
            Duration(16, "working_hours"),
            Duration(30, "calendar_days"),
        ):
            got, want = (
                fast.deadline(start, duration, explain=True),
                walk.deadline(start, duration, explain=True),
            )
            assert (got.due, got.explain) == (want.due, want.explain)


def test_a_calendar_without_enough_working_time_fails_as_the_walk_does():
    """Ten years closed from 2025 on: both give up with the same error (after MAX_SCAN_DAYS days)."""
    closed = dict(NATIONAL)
    d = dt.date(2025, 1, 1)
    while d < dt.date(2025, 1, 1) + dt.timedelta(days=MAX_SCAN_DAYS + 40):
        closed[d] = DayInfo(d, False, "company_closed", "停业")
        d += dt.timedelta(days=1)
    # One working day far out: reachable from a late start, beyond the limit from an early one.
    far = dt.date(2025, 1, 1) + dt.timedelta(days=MAX_SCAN_DAYS + 10)
    closed[far] = DayInfo(far, True, "company_open", "复业")
    known = set(range(2004, 2040))
    fast, walk = WorkCalendar(closed, known), WalkingCalendar(closed, known)
    outcomes = set()
    for start in (
        dt.datetime(2024, 12, 31, 10, tzinfo=SHANGHAI),
        dt.datetime(2025, 1, 5, 10, tzinfo=SHANGHAI),
        dt.datetime(2025, 1, 10, 23, 59, 59, tzinfo=SHANGHAI),
        dt.datetime(2025, 1, 11, 0, 0, tzinfo=SHANGHAI),  # the working day is the limit's last day away
        dt.datetime(2025, 1, 12, 9, 0, tzinfo=SHANGHAI),
        dt.datetime(2025, 1, 20, 10, tzinfo=SHANGHAI),
        dt.datetime(2025, 2, 10, 10, tzinfo=SHANGHAI),
    ):
        for duration in (
            Duration(1, "working_days"),
            Duration(2, "working_days"),
            Duration(1, "working_hours"),
        ):
            got, want = _outcome(fast, start, duration), _outcome(walk, start, duration)
            assert got == want, (start, duration)
            outcomes.add(got if isinstance(got, tuple) else "due")
    # Both sides of the limit were reached: some due times, and each clock's error.
    assert outcomes == {"due", ("error", "日历中找不到足够的工作日"), ("error", "日历中找不到足够的工作时间")}
