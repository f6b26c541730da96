"""Seeding the calendar table from chinesecalendar (which knows 2004–2026)."""

from __future__ import annotations


def seed_from_chinesecalendar(CalendarDay, CalendarYear) -> int:
    import chinese_calendar as cc

    from kesu.calendar.workcalendar import holiday_name_zh

    existing = set(CalendarYear.objects.values_list("year", flat=True))
    years = {d.year for d in cc.holidays} | {d.year for d in cc.workdays}
    rows = []
    for d, name in cc.holidays.items():
        if d.year not in existing:
            rows.append(
                CalendarDay(
                    date=d,
                    is_workday=False,
                    kind="holiday",
                    name=holiday_name_zh(str(name)),
                    source="chinesecalendar",
                )
            )
    for d, name in cc.workdays.items():
        if d.year not in existing:
            rows.append(
                CalendarDay(
                    date=d,
                    is_workday=True,
                    kind="adjusted_workday",
                    name=holiday_name_zh(str(name)),
                    source="chinesecalendar",
                )
            )
    CalendarDay.objects.bulk_create(rows, batch_size=500)
    CalendarYear.objects.bulk_create(
        [CalendarYear(year=y, source="chinesecalendar") for y in sorted(years - existing)]
    )
    return len(rows)
