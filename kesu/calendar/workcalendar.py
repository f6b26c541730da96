"""Working-day calendar and deadline arithmetic (ARCHITECTURE.md invariant 2).

Every business deadline is computed here, from a policy duration (amount + unit) and the
working-day calendar: Chinese statutory holidays and adjusted working weekends (调休) held in
the `CalendarDay` table (seeded from `chinesecalendar`, extended by the administrator with each
year's official schedule), company overrides per branch, and the policy's business hours.

Day-based periods follow the Civil Code (Art. 201–203): the start day is not counted; the period
ends at 24:00 of its last day (stored and printed as 23:59:59, or at close of business where the
policy says so); a calendar-day or month period whose last day is a rest day runs to the end of
the next working day. Hour-based working periods count business hours only.

A year nobody has entered falls back to the statutory festival dates of the `holidays` package,
without adjusted weekends, with a logged warning; results computed so are marked `fallback`.
"""

from __future__ import annotations

import calendar as _cal
import datetime as dt
import logging
import re
import threading
import time as _time
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from functools import lru_cache
from zoneinfo import ZoneInfo

from django.utils.translation import gettext, ngettext

log = logging.getLogger("kesu.calendar.workcalendar")

SHANGHAI = ZoneInfo("Asia/Shanghai")
DEFAULT_PERIODS: tuple[tuple[dt.time, dt.time], ...] = (
    (dt.time(9, 0), dt.time(12, 0)),
    (dt.time(13, 30), dt.time(18, 0)),
)
END_OF_DAY = dt.time(23, 59, 59)
MAX_SCAN_DAYS = 366 * 10

UNITS = (
    "calendar_minutes",
    "calendar_hours",
    "calendar_days",
    "working_hours",
    "working_days",
    "months",
    # The end of the same calendar day (amount 1; n: the n-th calendar day counting the first):
    # "当日投诉当日处理" (000 第2篇). Not moved off holidays: a crisis does not wait for Monday.
    "same_day",
)
UNIT_LABELS = {
    "calendar_minutes": "分钟",
    "calendar_hours": "小时",
    "calendar_days": "天",
    "working_hours": "工作小时",
    "working_days": "个工作日",
    "months": "个月",
    "same_day": "当日",
}

# chinesecalendar's English names → the names people read.
HOLIDAY_NAMES_ZH = {
    "New Year's Day": "元旦",
    "Spring Festival": "春节",
    "Tomb-sweeping Day": "清明节",
    "Labour Day": "劳动节",
    "Dragon Boat Festival": "端午节",
    "National Day": "国庆节",
    "Mid-autumn Festival": "中秋节",
    "Anti-Fascist 70th Day": "抗战胜利70周年纪念日",
}


def duration_text(amount, unit: str | None) -> str:
    """A policy duration in the active language, with the plural it needs ("1 working day", "2 working
    days"; "3 个工作日"). Every screen, the complainant's promise and the inbox say durations through this."""
    try:
        n = int(amount)
    except (TypeError, ValueError):
        return f"{amount or ''} {unit or ''}".strip()
    if unit == "same_day":
        # Until 24:00 of the day it starts (major and crisis cases: 当日处理).
        return gettext("当日") if n == 1 else gettext("第 %(n)d 日内") % {"n": n}
    forms = {
        "calendar_minutes": lambda: ngettext("%(n)d 分钟", "%(n)d 分钟", n),
        "calendar_hours": lambda: ngettext("%(n)d 小时", "%(n)d 小时", n),
        "calendar_days": lambda: ngettext("%(n)d 天", "%(n)d 天", n),
        "working_hours": lambda: ngettext("%(n)d 个工作小时", "%(n)d 个工作小时", n),
        "working_days": lambda: ngettext("%(n)d 个工作日", "%(n)d 个工作日", n),
        "months": lambda: ngettext("%(n)d 个月", "%(n)d 个月", n),
    }
    form = forms.get(unit or "")
    return form() % {"n": n} if form else f"{n} {unit or ''}".strip()


def holiday_name_zh(name: str) -> str:
    return HOLIDAY_NAMES_ZH.get(name, name)


# --- durations ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Duration:
    amount: int
    unit: str

    def __post_init__(self) -> None:
        if self.unit not in UNITS:
            raise ValueError(f"未知时限单位：{self.unit}")
        if self.amount < 0:
            raise ValueError("时限不能为负数")

    def __str__(self) -> str:
        if self.unit == "same_day":
            return UNIT_LABELS["same_day"] if self.amount == 1 else f"第{self.amount}日内"
        return f"{self.amount}{UNIT_LABELS[self.unit]}"


_UNIT_WORDS = [
    (r"working\s*days?|work\s*days?|business\s*days?|个?工作日", "working_days"),
    (r"working\s*hours?|business\s*hours?|个?工作小时", "working_hours"),
    (r"calendar\s*days?|days?|天|日|个?自然日", "calendar_days"),
    (r"calendar\s*hours?|hours?|hrs?|h|个?小时", "calendar_hours"),
    (r"calendar\s*minutes?|minutes?|mins?|分钟", "calendar_minutes"),
    (r"months?|个?月", "months"),
]


def parse_duration(text: str) -> Duration:
    """'3 working days', '2 working hours', '15 days', '24 hours', '30 minutes', '3 months', '3个工作日'."""
    m = re.fullmatch(r"\s*(\d+)\s*(.+?)\s*", text or "", flags=re.IGNORECASE)
    if not m:
        raise ValueError(f"无法识别的时限：{text!r}")
    amount, word = int(m.group(1)), m.group(2)
    for pattern, unit in _UNIT_WORDS:
        if re.fullmatch(pattern, word, flags=re.IGNORECASE):
            return Duration(amount, unit)
    raise ValueError(f"无法识别的时限单位：{word!r}")


def parse_instant(text: str) -> dt.datetime:
    """An ISO-like date/time; without an offset it is read as Asia/Shanghai local time."""
    value = dt.datetime.fromisoformat(text.strip().replace("/", "-"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=SHANGHAI)
    return value


def format_instant(value: dt.datetime) -> str:
    return value.astimezone(SHANGHAI).isoformat(timespec="seconds")


# --- days -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DayInfo:
    date: dt.date
    is_workday: bool
    kind: str  # workday | weekend | holiday | adjusted_workday | company_closed | company_open
    name: str = ""
    fallback: bool = False

    def reason(self) -> str:
        wd = "一二三四五六日"[self.date.weekday()]
        labels = {
            "weekend": "周末",
            "holiday": "法定节假日",
            "adjusted_workday": "调休上班",
            "company_closed": "公司休息日",
            "company_open": "公司工作日",
            "workday": "工作日",
        }
        text = f"{self.date.isoformat()}（周{wd}）{labels.get(self.kind, self.kind)}"
        if self.name:
            text += f"：{self.name}"
        if self.fallback:
            text += "（未录入官方安排，按法定节日推定）"
        return text


@lru_cache(maxsize=64)
def fallback_holidays(year: int) -> dict[dt.date, str]:
    """Statutory festival dates of a year nobody entered (no adjusted weekends)."""
    import holidays

    try:
        return dict(holidays.China(years=year, observed=False, language="zh_CN").items())
    except Exception:  # never crash on the calendar
        log.exception("holidays package failed for %s", year)
        return {}


_warned_years: set[int] = set()


def _warn_fallback(year: int) -> None:
    if year not in _warned_years:
        _warned_years.add(year)
        log.warning(
            "工作日历：%s 年的官方放假安排尚未录入，按法定节日推定（不含调休）。请在后台或以 "
            "`kesu calendar load` 录入。",
            year,
        )


# --- results ----------------------------------------------------------------------------------


@dataclass
class Deadline:
    due: dt.datetime
    fallback_years: tuple[int, ...] = ()
    explain: list[str] = field(default_factory=list)

    @property
    def fallback(self) -> bool:
        return bool(self.fallback_years)


class WorkCalendar:
    """A working-day calendar with business hours; immutable once built (cache-safe)."""

    def __init__(
        self,
        exceptions: dict[dt.date, DayInfo] | None = None,
        known_years: set[int] | frozenset[int] | None = None,
        periods: tuple[tuple[dt.time, dt.time], ...] = DEFAULT_PERIODS,
        close_of_business: bool = False,
    ):
        self.exceptions = dict(exceptions or {})
        self.known_years = frozenset(known_years or ())
        self.periods = tuple(sorted(periods))
        self.close_of_business = close_of_business
        self._day_cache: dict[dt.date, DayInfo] = {}
        self._period_cache: dict[dt.date, tuple[tuple[dt.datetime, dt.datetime], ...]] = {}
        # Running totals of whole-day working seconds (see `_whole_days_between`), built on demand.
        self._totals_start: dt.date | None = None
        self._totals: list[float] = []
        self._totals_lock = threading.Lock()
        # Per year, its working days in order (see `_workdays_of`): "N working days after" becomes a
        # lookup instead of a walk over every day (registration and the import's reader do it per case).
        self._workdays: dict[int, list[dt.date]] = {}
        # Whole days skipped at once need whole-second days (periods as HH:MM[:SS], as policies write them).
        self._whole_seconds = all(p.microsecond == 0 for period in self.periods for p in period)

    # days
    def day(self, d: dt.date) -> DayInfo:
        info = self._day_cache.get(d)
        if info is not None:
            return info
        info = self.exceptions.get(d)
        if info is None:
            weekend = d.weekday() >= 5
            if d.year not in self.known_years:
                _warn_fallback(d.year)
                name = fallback_holidays(d.year).get(d)
                if name:
                    info = DayInfo(d, False, "holiday", name, fallback=True)
                else:
                    info = DayInfo(d, not weekend, "weekend" if weekend else "workday", fallback=True)
            else:
                info = DayInfo(d, not weekend, "weekend" if weekend else "workday")
        if len(self._day_cache) < 20000:
            self._day_cache[d] = info
        return info

    def is_workday(self, d: dt.date) -> bool:
        return self.day(d).is_workday

    def is_known(self, d: dt.date) -> bool:
        return d.year in self.known_years

    def _fallback_years(self, a: dt.date, b: dt.date) -> tuple[int, ...]:
        if a.year == b.year:  # most periods end in the year they start
            return () if a.year in self.known_years else (a.year,)
        lo, hi = min(a, b), max(a, b)
        return tuple(y for y in range(lo.year, hi.year + 1) if y not in self.known_years)

    def end_of_day(self, d: dt.date) -> dt.datetime:
        t = self.periods[-1][1] if (self.close_of_business and self.periods) else END_OF_DAY
        return dt.datetime.combine(d, t, tzinfo=SHANGHAI)

    def next_workday(self, d: dt.date, explain: list[str] | None = None) -> dt.date:
        """The first working day on or after `d`."""
        for _ in range(MAX_SCAN_DAYS):
            info = self.day(d)
            if info.is_workday:
                return d
            if explain is not None:
                explain.append("顺延 " + info.reason())
            d += dt.timedelta(days=1)
        raise ValueError("日历中找不到工作日")

    # day-based periods
    def _workdays_of(self, year: int) -> list[dt.date]:
        """The working days of a year in order, built once per calendar (the calendar is immutable)."""
        days = self._workdays.get(year)
        if days is None:
            d, end, days = dt.date(year, 1, 1), dt.date(year, 12, 31), []
            while True:
                if self.day(d).is_workday:
                    days.append(d)
                if d == end:
                    break
                d += dt.timedelta(days=1)
            days = self._workdays.setdefault(year, days)
        return days

    def _nth_workday_after(self, d0: dt.date, n: int) -> dt.date:
        """The n-th working day after d0 (d0 itself when n is 0), from the per-year lists. The same
        day and the same limit as the day-by-day walk of `add_working_days` with explanations."""
        if n <= 0:
            return d0
        first = d0 + dt.timedelta(days=1)
        last_year = (d0 + dt.timedelta(days=MAX_SCAN_DAYS)).year
        year = first.year
        days = self._workdays_of(year)
        i = bisect_left(days, first)
        while len(days) - i < n:
            n -= len(days) - i
            year, i = year + 1, 0
            if year > last_year:
                raise ValueError("日历中找不到足够的工作日")
            days = self._workdays_of(year)
        d = days[i + n - 1]
        if (d - d0).days >= MAX_SCAN_DAYS:  # the walk gives up after MAX_SCAN_DAYS days
            raise ValueError("日历中找不到足够的工作日")
        return d

    def add_working_days(self, start: dt.datetime, days: int, explain: list[str] | None = None) -> Deadline:
        local = start.astimezone(SHANGHAI)
        if explain is None:
            d = self._nth_workday_after(local.date(), days)
            return Deadline(self.end_of_day(d), self._fallback_years(local.date(), d), [])
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

    def add_calendar_days(self, start: dt.datetime, days: int, explain: list[str] | None = None) -> Deadline:
        local = start.astimezone(SHANGHAI)
        last = local.date() + dt.timedelta(days=days)
        last = self.next_workday(last, explain)  # Art. 203
        return Deadline(self.end_of_day(last), self._fallback_years(local.date(), last), explain or [])

    def add_months(self, start: dt.datetime, months: int, explain: list[str] | None = None) -> Deadline:
        local = start.astimezone(SHANGHAI)
        index = local.month - 1 + months
        year, month = local.year + index // 12, index % 12 + 1
        last = dt.date(year, month, min(local.day, _cal.monthrange(year, month)[1]))  # Art. 202
        last = self.next_workday(last, explain)  # Art. 203
        return Deadline(self.end_of_day(last), self._fallback_years(local.date(), last), explain or [])

    # hour-based periods
    def _periods_of(self, d: dt.date) -> tuple[tuple[dt.datetime, dt.datetime], ...]:
        """The day's business periods as instants (kept per day: every hour-based deadline reads them)."""
        periods = self._period_cache.get(d)
        if periods is None:
            periods = tuple(
                (dt.datetime.combine(d, ps, tzinfo=SHANGHAI), dt.datetime.combine(d, pe, tzinfo=SHANGHAI))
                for ps, pe in self.periods
            )
            if len(self._period_cache) < 20000:
                self._period_cache[d] = periods
        return periods

    def _spend_day(
        self, d: dt.date, not_before: dt.datetime, remaining: float
    ) -> tuple[dt.datetime | None, float]:
        """A working day's business time from `not_before` on: the due time if `remaining` seconds end
        in it (else None), and what remains after it."""
        for ps, pe in self._periods_of(d):
            seg_start = max(ps, not_before)
            if pe <= seg_start:
                continue
            avail = (pe - seg_start).total_seconds()
            if remaining <= avail:
                return seg_start + dt.timedelta(seconds=remaining), remaining
            remaining -= avail
        return None, remaining

    def add_working_seconds(
        self, start: dt.datetime, seconds: float, explain: list[str] | None = None
    ) -> Deadline:
        local = start.astimezone(SHANGHAI)
        remaining = float(seconds)
        d = local.date()
        scan = range(MAX_SCAN_DAYS)
        if explain is None and self._whole_seconds:
            # The start day exactly as the walk below does it; then every whole day the time outlasts
            # is skipped at once from the running totals. The walk skips day x entirely exactly when
            # what remains exceeds x's working seconds, and whole days hold whole seconds, so the
            # subtraction is exact: the same day, the same remainder, the same due time.
            if self.day(d).is_workday:
                due, remaining = self._spend_day(d, local, remaining)
                if due is not None:
                    return Deadline(due, self._fallback_years(local.date(), d), [])
            d, skipped = self._skip_whole_days(d + dt.timedelta(days=1), remaining)
            remaining -= skipped
            # The walk's limit counts from the start day (none left: the error below).
            scan = range(MAX_SCAN_DAYS - (d - local.date()).days)
        for _ in scan:
            info = self.day(d)
            if info.is_workday:
                due, remaining = self._spend_day(d, local, remaining)
                if due is not None:
                    return Deadline(due, self._fallback_years(local.date(), d), explain or [])
            elif explain is not None:
                explain.append("跳过 " + info.reason())
            d += dt.timedelta(days=1)
        raise ValueError("日历中找不到足够的工作时间")

    def add_working_hours(
        self, start: dt.datetime, hours: float, explain: list[str] | None = None
    ) -> Deadline:
        return self.add_working_seconds(start, hours * 3600, explain)

    # counting
    def working_seconds_between(self, a: dt.datetime, b: dt.datetime) -> float:
        if b <= a:
            return 0.0
        a, b = a.astimezone(SHANGHAI), b.astimezone(SHANGHAI)
        da, db = a.date(), b.date()
        if da == db:
            return self._seconds_within(da, a, b)
        # Partial first and last days plus the whole days between from running totals: constant time
        # per call, because the analytics rollups compute this for every closed case (an import of
        # a million historical cases included).
        whole = self._whole_days_between(da + dt.timedelta(days=1), db)
        return self._seconds_within(da, a, None) + whole + self._seconds_within(db, None, b)

    def _seconds_within(self, d: dt.date, a: dt.datetime | None, b: dt.datetime | None) -> float:
        """Working seconds of day `d` between a and b (None: the start / end of the day)."""
        if not self.is_workday(d):
            return 0.0
        total = 0.0
        for ps, pe in self._periods_of(d):
            lo = ps if a is None or a < ps else a
            hi = pe if b is None or b > pe else b
            if hi > lo:
                total += (hi - lo).total_seconds()
        return total

    def _whole_days_between(self, first: dt.date, end: dt.date) -> float:
        """Working seconds of the whole days from `first` up to `end` (excluded), both totals read from
        the same start under one hold of the lock. Taken as two separate totals (a former
        `_whole_days_before`), the later day first, the earlier one could restart the totals further back in between (a date before
        their start; or another thread's call), and the difference of totals from two different starts
        came out wrong, even negative: warning times and close hours then depended on what the
        calendar had computed before (tests/sla/test_import_deadlines.py)."""
        with self._totals_lock:
            start = self._totals_start
            if start is None or first < start:
                self._restart_totals(first)
                start = self._totals_start
            self._extend_totals(end)
            totals = self._totals
            return totals[(end - start).days] - totals[(first - start).days]

    def _skip_whole_days(self, d: dt.date, remaining: float) -> tuple[dt.date, float]:
        """From day d on, the first day whose working seconds up to its end reach `remaining`, and the
        working seconds of the whole days before it (from d). At most MAX_SCAN_DAYS days on."""
        with self._totals_lock:
            start = self._totals_start
            if start is None or d < start:
                self._restart_totals(d)
            start, totals = self._totals_start, self._totals
            i0 = (d - start).days
            base = None
            span = 64
            while True:
                self._extend_totals(d + dt.timedelta(days=span))
                if base is None:
                    base = totals[i0]
                # totals[j] - base: the whole days d .. start+j-1 (exact: whole seconds).
                j = bisect_left(totals, remaining, lo=i0 + 1, key=lambda t: t - base)
                if j < len(totals) or span >= MAX_SCAN_DAYS:
                    break
                span *= 4
            j = min(j, len(totals) - 1)
            return start + dt.timedelta(days=j - 1), totals[j - 1] - base

    def _restart_totals(self, d: dt.date) -> None:
        """(Re)start the running totals a year earlier than asked (nearby earlier dates do not restart
        them again), keeping the days they covered."""
        start, totals = self._totals_start, self._totals
        end = start + dt.timedelta(days=len(totals) - 1) if start is not None else d
        self._totals_start, self._totals = d - dt.timedelta(days=366), [0.0]
        self._extend_totals(end)

    def _extend_totals(self, d: dt.date) -> None:
        start, totals = self._totals_start, self._totals
        while len(totals) <= (d - start).days:
            day = start + dt.timedelta(days=len(totals) - 1)
            totals.append(totals[-1] + self._seconds_within(day, None, None))

    def working_days_between(self, a: dt.datetime, b: dt.datetime) -> int:
        """Working days after a's day up to and including b's day (the start day is not counted)."""
        da, db = a.astimezone(SHANGHAI).date(), b.astimezone(SHANGHAI).date()
        first = da + dt.timedelta(days=1)
        count = 0
        if first > db:
            return 0
        for year in range(first.year, db.year + 1):
            days = self._workdays_of(year)
            count += bisect_right(days, db) - bisect_left(days, first)
        return count

    # the one entry point for policy durations
    def deadline(self, start: dt.datetime, duration: Duration, *, explain: bool = False) -> Deadline:
        notes: list[str] | None = [] if explain else None
        unit, n = duration.unit, duration.amount
        if unit == "working_days":
            return self.add_working_days(start, n, notes)
        if unit == "working_hours":
            return self.add_working_hours(start, n, notes)
        if unit == "calendar_days":
            return self.add_calendar_days(start, n, notes)
        if unit == "months":
            return self.add_months(start, n, notes)
        if unit == "same_day":
            first = start.astimezone(SHANGHAI).date()
            last = first + dt.timedelta(days=max(n, 1) - 1)
            return Deadline(
                dt.datetime.combine(last, END_OF_DAY, tzinfo=SHANGHAI), self._fallback_years(first, last)
            )
        delta = dt.timedelta(hours=n) if unit == "calendar_hours" else dt.timedelta(minutes=n)
        due = start + delta
        return Deadline(
            due, self._fallback_years(start.astimezone(SHANGHAI).date(), due.astimezone(SHANGHAI).date())
        )

    def extend(self, due: dt.datetime, unit: str, start: dt.datetime, end: dt.datetime) -> dt.datetime:
        """Move `due` on by the time that passed between start and end, measured in the unit (pauses)."""
        if end <= start:
            return due
        if unit == "working_days":
            k = self.working_days_between(start, end)
            return self.add_working_days(due, k).due if k else due
        if unit == "working_hours":
            s = self.working_seconds_between(start, end)
            return self.add_working_seconds(due, s).due if s else due
        if unit in ("calendar_days", "months"):
            k = (end.astimezone(SHANGHAI).date() - start.astimezone(SHANGHAI).date()).days
            if not k:
                return due
            return self.add_calendar_days(due, k).due
        return due + (end - start)

    def elapsed(self, unit: str, start: dt.datetime, end: dt.datetime) -> float:
        """Time used in seconds, measured as the unit measures it (working time for working units)."""
        if unit in ("working_days", "working_hours"):
            return self.working_seconds_between(start, end)
        return max(0.0, (end - start).total_seconds())

    def warn_at(self, unit: str, start: dt.datetime, due: dt.datetime, share: float) -> dt.datetime:
        if due <= start:
            return due
        if unit in ("working_days", "working_hours"):
            total = self.working_seconds_between(start, due)
            if total > 0:
                return min(due, self.add_working_seconds(start, total * share).due)
        return start + (due - start) * share


# --- loading from the database (cached) ---------------------------------------------------------

_CACHE_TTL = 60.0
_cache_lock = threading.Lock()
_cache: dict[tuple, tuple[float, WorkCalendar]] = {}


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()
    _warned_years.clear()


def _periods_from(rules) -> tuple[tuple[tuple[dt.time, dt.time], ...], bool]:
    if rules is None:
        return DEFAULT_PERIODS, False
    section = rules.section("business_hours") if hasattr(rules, "section") else {}
    periods = []
    for a, b in section.get("periods", []):
        periods.append((dt.time.fromisoformat(a), dt.time.fromisoformat(b)))
    return tuple(periods) or DEFAULT_PERIODS, section.get("day_ends", "midnight") == "close_of_business"


def get_calendar(branch_id: int | None = None, rules=None) -> WorkCalendar:
    """The calendar for a branch (national schedule + the company's and the branch's overrides)."""
    periods, cob = _periods_from(rules)
    key = (branch_id, periods, cob)
    now = _time.monotonic()
    with _cache_lock:
        hit = _cache.get(key)
        if hit and now - hit[0] < _CACHE_TTL:
            return hit[1]
    cal = _build(branch_id, periods, cob)
    with _cache_lock:
        _cache[key] = (now, cal)
    return cal


def _build(branch_id, periods, cob) -> WorkCalendar:
    from django.db.models import Q

    from kesu.calendar.models import CalendarDay, CalendarYear

    exceptions: dict[dt.date, DayInfo] = {}
    known = set(CalendarYear.objects.values_list("year", flat=True))
    if not known:
        from kesu.calendar.services import ensure_calendar_seeded  # services imports this module

        ensure_calendar_seeded()
        known = set(CalendarYear.objects.values_list("year", flat=True))
    rows = CalendarDay.objects.filter(Q(branch__isnull=True) | Q(branch_id=branch_id)).values_list(
        "date", "is_workday", "kind", "name", "branch_id", "is_override"
    )
    # National rows first, then the company-wide overrides; the branch's own rows win.
    for d, is_workday, kind, name, _b, _o in sorted(rows, key=lambda r: (r[4] is not None, r[5])):
        exceptions[d] = DayInfo(d, is_workday, kind, name)
    return WorkCalendar(exceptions, known, periods, cob)


def calendar_for_case(case, rules=None) -> WorkCalendar:
    return get_calendar(getattr(case, "branch_id", None), rules)


# --- helpers kept for the lifecycle actions ---------------------------------------------------------


def add_calendar_days(start: dt.datetime, days: int) -> dt.datetime:
    """Civil Code Art. 201/203: start day not counted; ends 24:00 of the last day, rolled to a working day."""
    return get_calendar().add_calendar_days(start, days).due


def add_months(start: dt.datetime, months: int) -> dt.datetime:
    """Calendar months (Art. 202: a missing day ends on the month's last day), rolled to a working day."""
    return get_calendar().add_months(start, months).due


def add_working_days(start: dt.datetime, days: int) -> dt.datetime:
    return get_calendar().add_working_days(start, days).due


def add_working_hours(start: dt.datetime, hours: float) -> dt.datetime:
    return get_calendar().add_working_hours(start, hours).due
