"""The working-day calendar against known official schedules, and the Civil Code period rules."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.management import call_command

from kesu.calendar.models import CalendarDay
from kesu.calendar.workcalendar import format_instant, get_calendar, parse_duration, parse_instant
from kesu.sla.selectors import calendar_notices

pytestmark = pytest.mark.django_db

D = dt.date


def due(start: str, duration: str, branch_id=None) -> str:
    return format_instant(
        get_calendar(branch_id).deadline(parse_instant(start), parse_duration(duration)).due
    )


def test_national_day_and_spring_festival_2025():
    cal = get_calendar()
    for d in [D(2025, 10, 1), D(2025, 10, 6), D(2025, 10, 8)]:
        assert not cal.is_workday(d)
    assert cal.day(D(2025, 10, 1)).name == "国庆节"
    assert cal.day(D(2025, 10, 6)).name == "中秋节"
    assert cal.is_workday(D(2025, 10, 9))
    # adjusted working Sunday 28 Sep and Saturday 11 Oct
    for d in [D(2025, 9, 28), D(2025, 10, 11)]:
        assert cal.is_workday(d) and cal.day(d).kind == "adjusted_workday"
    assert not cal.is_workday(D(2025, 10, 12))  # an ordinary Sunday
    # Spring Festival 28 Jan – 4 Feb; working Sunday 26 Jan and Saturday 8 Feb
    assert all(not cal.is_workday(D(2025, 1, 28) + dt.timedelta(days=i)) for i in range(8))
    assert cal.is_workday(D(2025, 2, 5))
    assert cal.is_workday(D(2025, 1, 26)) and cal.is_workday(D(2025, 2, 8))
    assert cal.day(D(2025, 1, 29)).name == "春节"


def test_national_day_and_spring_festival_2026():
    cal = get_calendar()
    assert all(not cal.is_workday(D(2026, 10, 1) + dt.timedelta(days=i)) for i in range(7))
    assert cal.is_workday(D(2026, 10, 8))
    assert cal.is_workday(D(2026, 9, 20)) and cal.is_workday(D(2026, 10, 10))
    assert all(not cal.is_workday(D(2026, 2, 15) + dt.timedelta(days=i)) for i in range(9))
    assert cal.is_workday(D(2026, 2, 24))
    assert cal.is_workday(D(2026, 2, 14)) and cal.is_workday(D(2026, 2, 28))


def test_three_working_days_from_eve_of_national_day_2026_counts_working_saturday():
    assert due("2026-09-30 17:00", "3 working days") == "2026-10-10T23:59:59+08:00"


@pytest.mark.parametrize(
    "start, duration, expected",
    [
        # start on a holiday: the start day is not counted, the holiday days are skipped
        ("2026-10-03 10:00", "3 working days", "2026-10-10T23:59:59+08:00"),
        # start on a weekend
        ("2026-11-21 11:00", "1 working day", "2026-11-23T23:59:59+08:00"),
        # start after business hours: working hours begin the next working morning
        ("2026-11-23 19:30", "2 working hours", "2026-11-24T11:00:00+08:00"),
        # over lunch: 11:00 + 2 working hours = 12:00 plus 13:30–14:30
        ("2026-11-23 11:00", "2 working hours", "2026-11-23T14:30:00+08:00"),
        # starting inside the lunch break counts from 13:30
        ("2026-11-23 12:40", "1 working hours", "2026-11-23T14:30:00+08:00"),
        # a Friday afternoon runs over the weekend
        ("2026-11-27 17:00", "2 working hours", "2026-11-30T10:00:00+08:00"),
        # before National Day: the remaining hour, then the first working day after the holiday
        ("2026-09-30 17:00", "2 working hours", "2026-10-08T10:00:00+08:00"),
        # calendar days whose last day is a holiday run to the end of the next working day (Art. 203)
        ("2026-09-26 09:00", "5 days", "2026-10-08T23:59:59+08:00"),
        ("2026-11-10 09:00", "15 days", "2026-11-25T23:59:59+08:00"),
        # ... a Saturday last day moves to Monday
        ("2026-11-13 09:00", "15 days", "2026-11-30T23:59:59+08:00"),
        # calendar hours and minutes are exact
        ("2026-10-01 08:00", "24 hours", "2026-10-02T08:00:00+08:00"),
        ("2026-10-01 08:00", "60 minutes", "2026-10-01T09:00:00+08:00"),
        # months: a missing day ends on the month's last day (Art. 202)
        ("2026-11-30 10:00", "3 months", "2027-03-01T23:59:59+08:00"),
        ("2026-05-31 10:00", "1 months", "2026-06-30T23:59:59+08:00"),
    ],
)
def test_deadline_edge_cases(start, duration, expected):
    assert due(start, duration) == expected


def test_spring_festival_2026_working_days():
    # Friday 13 Feb 2026 + 2 working days: Sat 14 Feb is a working day, then the holiday, then 24 Feb
    assert due("2026-02-13 10:00", "2 working days") == "2026-02-24T23:59:59+08:00"


def test_parse_duration_accepts_chinese_and_english():
    assert parse_duration("3个工作日") == parse_duration("3 working days")
    assert parse_duration("2 工作小时").unit == "working_hours"
    assert parse_duration("15天").unit == "calendar_days"
    with pytest.raises(ValueError):
        parse_duration("soon")


def test_counting_working_time_between_instants():
    cal = get_calendar()
    a, b = parse_instant("2026-09-30 17:00"), parse_instant("2026-10-08 10:30")
    assert cal.working_seconds_between(a, b) == 2.5 * 3600  # 17–18 and 09:00–10:30
    assert cal.working_days_between(a, b) == 1


def test_working_time_between_instants_agrees_with_counting_day_by_day():
    """The running-total shortcut gives what walking the calendar day by day gives, across holidays,
    adjusted working weekends and lunch breaks, for spans of minutes to months, in any query order."""
    import random

    cal = get_calendar()

    def day_by_day(a: dt.datetime, b: dt.datetime) -> float:
        total, d = 0.0, a.date()
        while d <= b.date():
            if cal.is_workday(d):
                for start, end in cal._periods_of(d):
                    lo, hi = max(start, a), min(end, b)
                    if hi > lo:
                        total += (hi - lo).total_seconds()
            d += dt.timedelta(days=1)
        return total

    rnd = random.Random(5)
    origin = parse_instant("2027-01-01 00:00")  # queried first: later pairs reach back before it
    for _ in range(400):
        a = origin - dt.timedelta(minutes=rnd.randrange(3 * 365 * 1440))
        b = a + dt.timedelta(minutes=rnd.choice([rnd.randrange(600), rnd.randrange(120 * 1440)]))
        assert cal.working_seconds_between(a, b) == day_by_day(a, b), (a, b)
    assert cal.working_seconds_between(origin, origin - dt.timedelta(hours=1)) == 0.0


def test_deadline_command_prints_iso_with_offset_and_explains(capsys):
    out = io.StringIO()
    call_command("calendar", "deadline", "2026-09-30 17:00", "3 working days", "--explain", stdout=out)
    text = out.getvalue()
    assert text.splitlines()[0] == "2026-10-10T23:59:59+08:00"
    assert "国庆节" in text and "2026-10-01" in text
    assert "调休上班" in text and "2026-10-10" in text


def test_company_override_per_branch(org):
    CalendarDay.objects.create(date=D(2026, 11, 24), kind="company_closed", name="司庆", branch=org.east)
    # Tuesday 24 Nov is closed for the east branch only
    assert due("2026-11-23 10:00", "1 working day", org.east.pk) == "2026-11-25T23:59:59+08:00"
    assert due("2026-11-23 10:00", "1 working day") == "2026-11-24T23:59:59+08:00"
    CalendarDay.objects.create(date=D(2026, 11, 28), kind="company_open", name="盘点加班")
    assert get_calendar().is_workday(D(2026, 11, 28))


def test_unknown_year_falls_back_to_statutory_festivals_with_warning(caplog):
    cal = get_calendar()
    with caplog.at_level("WARNING", logger="kesu.calendar.workcalendar"):
        info = cal.day(D(2027, 10, 1))
    assert not info.is_workday and info.fallback and info.name == "国庆节"
    assert "2027" in caplog.text
    result = cal.deadline(parse_instant("2026-12-30 10:00"), parse_duration("3 working days"))
    # 31 Dec, (1 Jan New Year fallback), 4 Jan, 5 Jan
    assert format_instant(result.due) == "2027-01-05T23:59:59+08:00"
    assert result.fallback and result.fallback_years == (2027,)
    notices = calendar_notices(today=D(2026, 11, 23))
    assert any(n["code"] == "calendar_year_missing" and n["year"] == 2027 for n in notices)


def test_load_schedule_file_makes_the_year_official(tmp_path):
    path = tmp_path / "2027.toml"
    path.write_text(
        'year = 2027\n[[holidays]]\nname = "元旦"\nstart = "2027-01-01"\nend = "2027-01-03"\n'
        '[[holidays]]\nname = "春节"\nstart = "2027-02-05"\nend = "2027-02-13"\n'
        '[[workdays]]\nname = "春节"\ndates = ["2027-02-14", "2027-02-20"]\n',
        encoding="utf-8",
    )
    out = io.StringIO()
    call_command("calendar", "load", str(path), stdout=out)
    assert "2027" in out.getvalue()
    cal = get_calendar()
    assert not cal.day(D(2027, 2, 10)).fallback
    assert not cal.is_workday(D(2027, 2, 12))  # a bridging day the fallback would not know
    assert cal.is_workday(D(2027, 2, 14))  # adjusted working Sunday
    assert not any(n["year"] == 2027 for n in calendar_notices(today=D(2026, 11, 23)) if "year" in n)


def test_load_rejects_dates_of_another_year(tmp_path):
    from django.core.management.base import CommandError

    path = tmp_path / "bad.csv"
    path.write_text("date,kind,name\n2027-01-01,holiday,元旦\n2028-01-01,holiday,元旦\n", encoding="utf-8")
    with pytest.raises(CommandError):
        call_command("calendar", "load", str(path))
