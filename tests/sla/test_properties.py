"""Property-based checks of the deadline arithmetic (hypothesis), on the seeded national calendar."""

from __future__ import annotations

import datetime as dt

import chinese_calendar as cc
from hypothesis import given, settings
from hypothesis import strategies as st

from kesu.calendar.workcalendar import SHANGHAI, DayInfo, WorkCalendar

EXCEPTIONS = {d: DayInfo(d, False, "holiday", str(n)) for d, n in cc.holidays.items()}
EXCEPTIONS.update({d: DayInfo(d, True, "adjusted_workday", str(n)) for d, n in cc.workdays.items()})
CAL = WorkCalendar(EXCEPTIONS, set(range(2004, 2027)))

instants = st.datetimes(min_value=dt.datetime(2024, 1, 1), max_value=dt.datetime(2026, 10, 31)).map(
    lambda d: d.replace(second=0, microsecond=0, tzinfo=SHANGHAI)
)


@settings(max_examples=150, deadline=None)
@given(start=instants, n=st.integers(min_value=1, max_value=40))
def test_add_then_count_working_days_gives_n(start, n):
    due = CAL.add_working_days(start, n).due
    assert CAL.working_days_between(start, due) == n
    assert CAL.is_workday(due.date())


@settings(max_examples=150, deadline=None)
@given(start=instants, n=st.integers(min_value=0, max_value=60))
def test_add_then_count_working_hours_gives_n(start, n):
    due = CAL.add_working_hours(start, n).due
    assert CAL.working_seconds_between(start, due) == n * 3600


@settings(max_examples=100, deadline=None)
@given(
    start=instants,
    n=st.integers(min_value=0, max_value=30),
    unit=st.sampled_from(["working_days", "working_hours", "calendar_days", "calendar_hours", "months"]),
)
def test_deadlines_are_monotone_in_n(start, n, unit):
    from kesu.calendar.workcalendar import Duration

    a = CAL.deadline(start, Duration(n, unit)).due
    b = CAL.deadline(start, Duration(n + 1, unit)).due
    assert a <= b


@settings(max_examples=150, deadline=None)
@given(
    start=instants,
    n=st.integers(min_value=1, max_value=20),
    unit=st.sampled_from(["working_days", "working_hours", "calendar_days", "calendar_hours", "months"]),
    pause_after=st.integers(min_value=0, max_value=20 * 24 * 60),
    pause_len=st.integers(min_value=0, max_value=20 * 24 * 60),
)
def test_pause_and_resume_never_shortens(start, n, unit, pause_after, pause_len):
    from kesu.calendar.workcalendar import Duration

    due = CAL.deadline(start, Duration(n, unit)).due
    p_from = start + dt.timedelta(minutes=pause_after)
    p_to = p_from + dt.timedelta(minutes=pause_len)
    assert CAL.extend(due, unit, p_from, p_to) >= due
