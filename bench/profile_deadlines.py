"""Deadline work per stage as registration does it (`kesu.sla.services.compute_stage`): the deadline,
its fallback years and the warning time, per clock, in computations per CPU-second (time.process_time).

    .venv/bin/python bench/profile_deadlines.py [N]          # N random starts (default 20000)
    .venv/bin/python bench/profile_deadlines.py 10000 prof   # cProfile, top 20 by own time

Run it in two checkouts to compare (bench/results/speed20/deadlines21.json holds a run).
"""

from __future__ import annotations

import cProfile
import datetime as dt
import os
import pstats
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kesu.settings")

CLOCKS = (
    ("working_days", 15),
    ("working_days", 5),
    ("working_hours", 16),
    ("calendar_days", 30),
    ("calendar_hours", 24),
    ("months", 1),
)


def make():
    import chinese_calendar as cc

    from kesu.calendar.workcalendar import DayInfo, WorkCalendar

    exc = {d: DayInfo(d, False, "holiday", str(v)) for d, v in cc.holidays.items()}
    exc.update({d: DayInfo(d, True, "adjusted_workday", str(v)) for d, v in cc.workdays.items()})
    return WorkCalendar(exc, set(range(2004, 2027)))


def run(n: int, cal) -> dict[str, int]:
    from kesu.calendar.workcalendar import SHANGHAI, Duration

    rnd = random.Random(1)
    base = dt.datetime(2024, 1, 1, tzinfo=SHANGHAI)
    starts = [
        (base + dt.timedelta(minutes=rnd.randrange(0, 2 * 365 * 24 * 60))).astimezone(dt.UTC)
        for _ in range(n)
    ]
    out = {}
    for unit, amount in CLOCKS:
        duration = Duration(amount, unit)
        t = time.process_time()
        for s in starts:
            r = cal.deadline(s, duration)
            cal._fallback_years(s.astimezone(SHANGHAI).date(), r.due.astimezone(SHANGHAI).date())
            cal.warn_at(unit, s, r.due, 0.8)
        out[f"{amount} {unit}"] = round(n / (time.process_time() - t))
    return out


def main() -> None:
    import django

    django.setup()
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    cal = make()
    run(1000, cal)  # warm: the calendar's per-year lists and running totals
    if len(sys.argv) > 2 and sys.argv[2] == "prof":
        profile = cProfile.Profile()
        profile.runcall(run, n, cal)
        pstats.Stats(profile).sort_stats("tottime").print_stats(20)
    else:
        print(run(n, cal))


if __name__ == "__main__":
    main()
