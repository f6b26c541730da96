"""Figures that sum over the weeks of receipt, cached per week: a page recomputed after a case event
recounts the week that case was received in, not the whole year.

The analytics page's expensive figures are sums over the cases received in its period (the flag counts,
the KPI counts, the follow-ups, the branch × category heat map): the daily-count rollup does not hold
them, because they move with every status change of an old case. Inside `scope(parts)` (what the figures
depend on besides the cases: the viewer's scope, the policy's group size …), `summed(name, filters, …)`
splits the filters' days into weeks (Monday to Sunday), takes each week's part from the cache under the
week's number (`kesu.analytics.figures`: raised after every committed event on a case received that
week) and computes only the missing parts, each over its own days, then adds the parts up. Counted
exactly as one pass over the whole period would count them, since every part is a sum over disjoint
sets of cases. Weeks, not months: the open cases, on which most events happen, are the recent ones, and
a month of them was a third of a year's cases in the benchmark's data (open cases of the last weeks).

Used only while the daily-count rollup accounts for every case of the days (`rollups.accounts_for`, which
the page has read already): a case written past the hooks (a raw load, a deletion) raised no week's
number, and the whole period is then computed over the live table at once, as without the cache.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import hashlib
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.core.cache import cache

from kesu.analytics import figures, rollups
from kesu.analytics.periods import SHANGHAI

# A week's part is counted again after this long even when no event named its week: what no case event
# announces (a channel marked as a crisis channel, a row changed past the services) is bounded by it.
PART_SECONDS = 6 * 3600

_scope: contextvars.ContextVar[tuple | None] = contextvars.ContextVar("kesu_weekly_scope", default=None)


@contextmanager
def scope(parts: tuple) -> Iterator[None]:
    """Inside: `summed` caches per week under `parts` (everything its figures depend on besides the
    cases and the filters, which `summed` adds itself)."""
    token = _scope.set(parts)
    try:
        yield
    finally:
        _scope.reset(token)


def weeks(date_from: dt.date, date_to: dt.date) -> list[tuple[int, dt.date, dt.date]]:
    """The weeks the days touch: (`figures.week_id`, first day, last day), clipped to the days."""
    out = []
    start = date_from - dt.timedelta(days=date_from.weekday())
    while start <= date_to:
        following = start + dt.timedelta(days=7)
        out.append(
            (figures.week_id(start), max(start, date_from), min(following - dt.timedelta(days=1), date_to))
        )
        start = following
    return out


def summed(
    name: tuple,
    date_from: dt.date | None,
    date_to: dt.date | None,
    compute: Callable[[dt.date | None, dt.date | None], dict[int | None, Any]],
    combine: Callable[[list[Any]], Any],
    *,
    still_valid: Callable[[Any], bool] | None = None,
) -> Any:
    """`combine` of the parts per week of the days, each from the cache while its week has not changed.

    `compute(first day, last day)` counts the cases received on those days in one pass, grouped by week
    of receipt: {`figures.week_id`: part} (weeks without cases left out). Outside `scope`, for an open
    range, or when the rollup does not account for every case of the days, it is called once for the
    whole range and its parts combined (then the key None may hold every case).

    `name` names the figure and every filter besides the dates; the parts must be picklable and
    `combine` must add them (sums over disjoint sets of cases; it is given no part for a week without
    cases). `still_valid(part)`: whether a cached part may still be served (what the clock changes
    without an event)."""
    parts = _scope.get()
    if (
        parts is None
        or date_from is None
        or date_to is None
        or date_from > date_to
        or not rollups.daily_counts_enabled()
        or not rollups.accounts_for(date_from, date_to)
    ):
        return combine(list(compute(date_from, date_to).values()))
    spans = weeks(date_from, date_to)
    epoch, numbers = figures.week_numbers([w for w, _first, _last in spans])
    # One cache entry per figure holds its weeks, each under the number its week had when it was
    # counted: one read and at most one write per figure, however many weeks were counted again.
    key = "kesu:analytics:weekly:" + hashlib.sha256(repr((epoch, parts, name)).encode()).hexdigest()
    stored: dict = cache.get(key) or {}
    now = time.time()
    held: dict[tuple, tuple] = {}
    missing = []
    for span in spans:
        entry = stored.get(span)
        if (
            entry is None
            or entry[0] != numbers[span[0]]
            or now - entry[1] > PART_SECONDS
            or (still_valid is not None and entry[2] is not None and not still_valid(entry[2]))
        ):
            missing.append(span)
        else:
            held[span] = entry
    if missing:
        # One pass over the days from the first to the last week missing (the weeks between, counted
        # again on the way, are renewed too): after an event one week, on a first view every week.
        counted = compute(missing[0][1], missing[-1][2])
        for span in spans:
            if missing[0][1] <= span[1] and span[2] <= missing[-1][2]:
                held[span] = (numbers[span[0]], now, counted.get(span[0]))
        cache.set(key, held, PART_SECONDS)  # the weeks of other days are dropped
    elif len(held) != len(stored):
        cache.set(key, held, PART_SECONDS)
    return combine([held[span][2] for span in spans if held[span][2] is not None])


def one_week(first: dt.date | None, last: dt.date | None) -> int | None:
    """The week of the days when they lie in one week (count them without grouping), else None."""
    if first is None or last is None or figures.week_id(first) != figures.week_id(last):
        return None
    return figures.week_id(first)


def week_of(value: Any) -> int:
    """`figures.week_id` of a grouped `week_expression()` value (a date, a datetime or ISO text)."""
    if isinstance(value, dt.datetime):
        value = value.astimezone(SHANGHAI).date() if value.tzinfo else value.date()
    elif isinstance(value, str):
        value = dt.date.fromisoformat(value[:10])
    return figures.week_id(value)


def sum_counts(parts: list[dict[tuple, int]]) -> dict[tuple, int]:
    """`combine` for counts by group ({(group values …): n}): the counts of equal groups added."""
    if len(parts) == 1:
        return parts[0]
    total: dict[tuple, int] = {}
    get = total.get
    for part in parts:
        for group, n in part.items():
            total[group] = get(group, 0) + n
    return total
