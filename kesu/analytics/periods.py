"""Periods of the calendar (day, week, month, quarter, year) in Asia/Shanghai, with their predecessors."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")
UNITS = ("day", "week", "month", "quarter", "year", "custom")


def local_midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=SHANGHAI)


def add_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def bucket_end(start: dt.date, unit: str) -> dt.date:
    """The first day after the bucket that starts on `start`."""
    if unit == "day":
        return start + dt.timedelta(days=1)
    if unit == "week":
        return start + dt.timedelta(days=7)
    if unit == "month":
        return add_months(start, 1)
    if unit == "quarter":
        return add_months(start, 3)
    if unit == "year":
        return dt.date(start.year + 1, 1, 1)
    raise ValueError(unit)


def bucket_start(day: dt.date, unit: str) -> dt.date:
    if unit == "day":
        return day
    if unit == "week":
        return day - dt.timedelta(days=day.weekday())
    if unit == "month":
        return day.replace(day=1)
    if unit == "quarter":
        return dt.date(day.year, (day.month - 1) // 3 * 3 + 1, 1)
    if unit == "year":
        return dt.date(day.year, 1, 1)
    raise ValueError(unit)


@dataclass(frozen=True)
class Period:
    """A half-open range of local dates [start, end)."""

    start: dt.date
    end: dt.date
    unit: str = "custom"

    @classmethod
    def of(cls, unit: str, day: dt.date) -> Period:
        start = bucket_start(day, unit)
        return cls(start, bucket_end(start, unit), unit)

    @classmethod
    def parse(cls, text: str) -> Period:
        """`2026-11` (month), `2026-11-05` (day), `2026-W45` (ISO week), `2026-Q4`, `2026`."""
        text = text.strip()
        if "-W" in text:
            year, week = text.split("-W")
            return cls.of("week", dt.date.fromisocalendar(int(year), int(week), 1))
        if "-Q" in text:
            year, quarter = text.split("-Q")
            return cls.of("quarter", dt.date(int(year), (int(quarter) - 1) * 3 + 1, 1))
        parts = text.split("-")
        if len(parts) == 1:
            return cls.of("year", dt.date(int(parts[0]), 1, 1))
        if len(parts) == 2:
            return cls.of("month", dt.date(int(parts[0]), int(parts[1]), 1))
        return cls.of("day", dt.date.fromisoformat(text))

    @classmethod
    def month_to_date(cls, today: dt.date) -> Period:
        """The current month up to and including today (环比: the same days of the previous month)."""
        return cls(bucket_start(today, "month"), today + dt.timedelta(days=1), "month_to_date")

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    def previous(self) -> Period:
        """环比: the period just before, of the same kind."""
        if self.unit == "month_to_date":
            # 12-01..12-07 → 11-01..11-07 (cut at the month's end: 03-01..03-31 → 02-01..02-28)
            start = add_months(self.start, -1)
            return Period(start, min(start + dt.timedelta(days=self.days), self.start), self.unit)
        if self.unit in ("month", "quarter", "year"):
            months = {"month": 1, "quarter": 3, "year": 12}[self.unit]
            start = add_months(self.start, -months)
            return Period(start, self.start, self.unit)
        return Period(self.start - dt.timedelta(days=self.days), self.start, self.unit)

    def year_ago(self) -> Period:
        """同比: the same period one year earlier."""

        def shift(day: dt.date) -> dt.date:
            try:
                return day.replace(year=day.year - 1)
            except ValueError:  # 29 February
                return day.replace(year=day.year - 1, day=28)

        if self.unit == "week":
            iso = self.start.isocalendar()
            try:
                start = dt.date.fromisocalendar(iso.year - 1, iso.week, 1)
            except ValueError:
                start = dt.date.fromisocalendar(iso.year - 1, 52, 1)
            return Period(start, start + dt.timedelta(days=7), "week")
        return Period(shift(self.start), shift(self.end), self.unit)

    @property
    def start_at(self) -> dt.datetime:
        return local_midnight(self.start)

    @property
    def end_at(self) -> dt.datetime:
        return local_midnight(self.end)

    @property
    def last_day(self) -> dt.date:
        return self.end - dt.timedelta(days=1)

    @property
    def label(self) -> str:
        s = self.start
        if self.unit == "day":
            return f"{s.year}年{s.month}月{s.day}日"
        if self.unit == "week":
            last = self.last_day
            return f"{s.year}年第{s.isocalendar().week}周（{s.month}月{s.day}日—{last.month}月{last.day}日）"
        if self.unit == "month":
            return f"{s.year}年{s.month}月"
        if self.unit == "quarter":
            return f"{s.year}年第{(s.month - 1) // 3 + 1}季度"
        if self.unit == "year":
            return f"{s.year}年"
        return f"{s.isoformat()} 至 {self.last_day.isoformat()}"

    @property
    def short(self) -> str:
        return {"day": "日", "week": "周", "month": "月", "quarter": "季度", "year": "年"}.get(
            self.unit, "期"
        )
