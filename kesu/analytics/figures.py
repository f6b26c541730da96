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
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from typing import Any

from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import F

from kesu.analytics.models import FigureVersion

CACHE_SECONDS = 600
_ROW = 1


def changed() -> None:
    """Something the figures count changed in the current transaction: raise the version after it commits.
    (Once per call: an action, a registration, a set of events or an import chunk calls it once.)"""
    transaction.on_commit(_raise)


def _raise() -> None:
    if not FigureVersion.objects.filter(pk=_ROW).update(n=F("n") + 1):
        version()  # no row yet: one with a fresh number


def version() -> int:
    """The current number (the row is created on first use, at a random number: never one an old cache
    entry could carry, even after the table was emptied)."""
    n = FigureVersion.objects.filter(pk=_ROW).values_list("n", flat=True).first()
    if n is not None:
        return n
    try:
        with transaction.atomic():
            FigureVersion.objects.create(pk=_ROW, n=random.SystemRandom().randrange(1, 2**62))
    except IntegrityError:  # created meanwhile by another process
        pass
    return FigureVersion.objects.values_list("n", flat=True).get(pk=_ROW)


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
