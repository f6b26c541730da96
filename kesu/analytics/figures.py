"""Figures derived from the cases, cached until a case changes.

`FigureVersion` holds one number. The analytics subscriber calls `changed()` on every case event, every
set of events (`perform_many`) and every import chunk, inside their transaction; the number is raised
once that transaction commits, and by every rollup rebuild. `cached(parts, compute)` keeps `compute()`'s result under the number read *before*
computing, so an entry can hold older data than its number only if a change committed while it was
computed — and that change raised the number past it. What the clock changes without an event (a
deadline passing makes a case overdue) is the caller's `still_valid`. Entries also expire after
`CACHE_SECONDS`, which bounds what no case event announces (a renamed department or channel, a new
policy's category names).

Raised after the commit, not inside the transaction: an update of one row inside every case transaction
would make concurrent writers wait for each other on it. If a process died between its commit and the
raise, the entries of the old number would live until they expire.

Beside that number, one per week of receipt (local, Monday to Sunday): a change that names the cases it
touched (`changed(received=…)`: an action, a registration, a set of events) raises, in the same
statement, the numbers of the weeks those cases were received in; one that cannot name them (an import
chunk, a rollup rebuild) raises the epoch, which every week's entry carries. The expensive parts of a
page that sum over the weeks of receipt (`kesu.analytics.weekly`) are cached per week under these
numbers, so an event on a case received last Tuesday recomputes that week's part only.

A third number is raised only by the changes that moved the daily-count rollup (`changed(counts=…)`:
a registration, a case counted under another day, kind or dimension, an import chunk, a rebuild): the
parts of a page read from that rollup alone are cached under it (`cached_counts`), so the events that
move none of its counts (a note, a status change, a closing) leave them as they are.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
from collections.abc import Callable, Iterable
from typing import Any

from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import F

from kesu.analytics.models import FigureVersion
from kesu.analytics.periods import SHANGHAI

CACHE_SECONDS = 600
_ROW = 1
_EPOCH = 2  # the number every week's entry carries; a week's row is its Monday's ordinal (> 700,000)
_COUNTS = 3  # raised by a change that moved the daily-count rollup (`kesu.analytics.rollups`)
_FRESH = (_ROW, _EPOCH, _COUNTS)  # the rows that start at a random number


def week_id(day: dt.date) -> int:
    """The row of the week (Monday to Sunday) holding the local date `day`: its Monday's ordinal."""
    return day.toordinal() - day.weekday()


def received_week(received_at: dt.datetime) -> int:
    """The row of the week a case was received in (local date)."""
    return week_id(received_at.astimezone(SHANGHAI).date())


def changed(received: Iterable[dt.datetime] | None = None, *, counts: bool = True) -> None:
    """Something the figures count changed in the current transaction: raise the version after it commits.
    (Once per call: an action, a registration, a set of events or an import chunk calls it once.)

    `received`: the receipt times of every case the change touched (their weeks' numbers are raised in
    the same statement); None: cases of any week (the epoch is raised, every week's entry is renewed).
    `counts`: whether the change may have moved the daily-count rollup (a registration, a changed
    category, branch, channel, region, product, kind or day of receipt); False only from the rollup's
    own hook that knows it did not (most actions): the parts cached under `counts_version()` stay."""
    if received is None:
        rows = [_EPOCH, _COUNTS]
    else:
        rows = sorted({received_week(t) for t in received}) + ([_COUNTS] if counts else [])
    transaction.on_commit(lambda: _raise(rows))


def _raise(rows: list[int] | None = None) -> None:
    rows = [_EPOCH] if rows is None else rows
    if FigureVersion.objects.filter(pk__in=[_ROW, *rows]).update(n=F("n") + 1) == len(rows) + 1:
        return
    # A row missing: the page's and the epoch start at a fresh number, a week's at 1 (its entries
    # also carry the epoch, so a week's number that starts again never meets an old entry).
    present = set(FigureVersion.objects.filter(pk__in=[_ROW, *rows]).values_list("pk", flat=True))
    for pk in [_ROW, *rows]:
        if pk in present:
            continue
        if pk in _FRESH:
            _number(pk)
            continue
        try:
            with transaction.atomic():
                FigureVersion.objects.create(pk=pk, n=1)
        except IntegrityError:  # created meanwhile by another process: raise it instead
            FigureVersion.objects.filter(pk=pk).update(n=F("n") + 1)


def week_numbers(weeks: list[int]) -> tuple[int, dict[int, int]]:
    """The epoch and the number of each week (0 for a week no change has named yet), one read."""
    found = dict(FigureVersion.objects.filter(pk__in=[_EPOCH, *weeks]).values_list("pk", "n"))
    epoch = found.get(_EPOCH)
    if epoch is None:
        epoch = _number(_EPOCH)
    return epoch, {w: found.get(w, 0) for w in weeks}


def version() -> int:
    """The current number (the row is created on first use, at a random number: never one an old cache
    entry could carry, even after the table was emptied)."""
    return _number(_ROW)


def counts_version() -> int:
    """The number raised by every committed change that moved the daily-count rollup (and by every
    change that cannot tell: an import chunk, a rebuild)."""
    return _number(_COUNTS)


def _number(pk: int) -> int:
    n = FigureVersion.objects.filter(pk=pk).values_list("n", flat=True).first()
    if n is not None:
        return n
    try:
        with transaction.atomic():
            FigureVersion.objects.create(pk=pk, n=random.SystemRandom().randrange(1, 2**62))
    except IntegrityError:  # created meanwhile by another process
        pass
    return FigureVersion.objects.values_list("n", flat=True).get(pk=pk)


def cached(
    parts: tuple,
    compute: Callable[[], Any],
    *,
    seconds: int = CACHE_SECONDS,
    still_valid: Callable[[Any], bool] | None = None,
) -> Any:
    """`compute()`, or its result cached under `parts` (which must name everything it depends on
    besides the cases: filters, scope of visibility, language, day) at the current version.
    `still_valid(entry)`: whether an entry may be served (what the clock changes without an event)."""
    number = version()
    key = "kesu:analytics:figures:" + hashlib.sha256(repr((number, *parts)).encode()).hexdigest()
    hit = cache.get(key)
    if hit is not None and (still_valid is None or still_valid(hit)):
        return hit
    value = compute()
    cache.set(key, value, seconds)
    return value


def cached_counts(
    parts: tuple, compute: Callable[[], tuple[Any, bool]], *, seconds: int = CACHE_SECONDS
) -> Any:
    """The first of `compute()`'s pair, or that cached under `parts` at the current `counts_version()`,
    for figures read from the daily-count rollup, which most events (a note, a status change) do not
    move. `compute()` says in its second value whether every figure came from the rollup: only then is
    the result kept (a figure counted over the live table moves with events this number does not see)."""
    number = counts_version()
    key = "kesu:analytics:counts:" + hashlib.sha256(repr((number, *parts)).encode()).hexdigest()
    hit = cache.get(key)
    if hit is not None:
        return hit
    value, rolled = compute()
    if rolled:
        cache.set(key, value, seconds)
    return value
