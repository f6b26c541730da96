"""Every write of the working-day calendar: seeding from chinesecalendar, entering a year's official schedule."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction

from kesu.calendar.models import CalendarDay, CalendarYear
from kesu.calendar.seed import seed_from_chinesecalendar
from kesu.calendar.workcalendar import clear_cache, holiday_name_zh
from kesu.errors import Invalid


def enter_official_schedule(
    year: int,
    holidays: list[tuple[dt.date, str]],
    workdays: list[tuple[dt.date, str]],
    *,
    note: str = "",
) -> dict[str, Any]:
    """Replace a year's national holidays and adjusted working days with the official schedule.

    Deadlines already computed on the fallback calendar are not touched here: `kesu.sla.services.
    load_official_schedule` recomputes them after calling this.
    """
    bad = [d for d, _ in [*holidays, *workdays] if d.year != year]
    if bad:
        raise Invalid(f"日期不属于 {year} 年：{bad[0]}", details={"dates": "年份不符"})
    both = {d for d, _ in holidays} & {d for d, _ in workdays}
    if both:
        raise Invalid(f"同一天不能既放假又上班：{min(both)}", details={"dates": "冲突"})
    with transaction.atomic():
        CalendarDay.objects.filter(date__year=year, branch__isnull=True, is_override=False).delete()
        rows = [
            CalendarDay(
                date=d, is_workday=False, kind="holiday", name=holiday_name_zh(n), source=f"official:{year}"
            )
            for d, n in sorted(set(holidays))
        ] + [
            CalendarDay(
                date=d,
                is_workday=True,
                kind="adjusted_workday",
                name=holiday_name_zh(n),
                source=f"official:{year}",
            )
            for d, n in sorted(set(workdays))
        ]
        CalendarDay.objects.bulk_create(rows)
        CalendarYear.objects.update_or_create(
            year=year, defaults={"source": CalendarYear.Source.OFFICIAL, "note": note[:200]}
        )
    clear_cache()
    return {"year": year, "holidays": len(holidays), "workdays": len(workdays)}


def ensure_calendar_seeded() -> None:
    """Seed 2004–2026 from chinesecalendar when the table is empty (e.g. after a test-database flush)."""
    if not CalendarYear.objects.exists():
        seed_from_chinesecalendar(CalendarDay, CalendarYear)
        clear_cache()
