"""Rollups kept current by the transition service.

`DailyCaseCount`: the number of cases received per local day and kind, overall and by category, branch,
channel, region and product; `CaseCountKey` records under which day/kind/values each case is counted, so
that a change moves exactly that case's contribution. `case_changed` (every transition, in its
transaction), `cases_created` (the bulk importer, per chunk, from the values it holds) and
`cases_changed` (set-based, e.g. for re-imported cases whose region or product was corrected) keep
it current; `rebuild_daily_counts()` fills it for existing data. The statistics engine reads it through
`daily_count_rows` only when it accounts for every case of the requested days (see there).

`CaseCloseTime`: each closed case's working hours from receipt to closing (the company calendar),
written when a case is closed and dropped when it is reopened. `kesu.sla.services.after_case_event`
(inside every `perform` and after registration) calls `case_changed`; the bulk importer writes the
rows of the closed history it imports itself (`kesu.intake.bulk`). `rebuild_close_times()` fills the
table for existing data (after an upgrade, a bulk load, or a new official holiday schedule).
"""

from __future__ import annotations

import contextvars
import datetime as dt
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from django.db import connection, transaction
from django.db.models import CharField, DateField, F, Func
from django.db.models.functions import TruncMonth

from kesu.analytics import figures
from kesu.analytics.models import CaseCloseTime, CaseCountKey, DailyCaseCount
from kesu.analytics.periods import SHANGHAI, bucket_start, local_midnight
from kesu.analytics.worktime import working_hours
from kesu.cases.models import Case


def case_changed(case, *, created: bool = False, was_open: bool = False) -> bool:
    """Keep the case's rollup rows in step with it (inside the transition's transaction); whether its
    daily counts moved (`figures.changed(counts=…)`).

    `created`: the case was registered in this transaction, so it has no rollup rows yet (two reads
    fewer per registration). `was_open`: the event started from an open status, where a case has no
    close time (only reopening clears `closed_at`, and it starts from a finished one): a case still
    open has none to delete (one statement fewer for every action on an open case)."""
    if not ((created or was_open) and case.closed_at is None):
        _close_time_changed(case)
    return _counts_changed(case, created=created)


def cases_changed_many(cases: Sequence) -> bool:
    """`case_changed` for a set of cases (`perform_many`): one read of their recorded keys and one
    delete of the close times of the open ones; per case only where something moved (a closing, a new
    day, kind or dimension), which escalations and other status-neutral events never do. Whether any
    daily count moved."""
    if not cases:
        return False
    unique = list({c.pk: c for c in cases}.values())
    open_ids = [c.pk for c in unique if c.closed_at is None]
    if open_ids:
        CaseCloseTime.objects.filter(case_id__in=open_ids).delete()
    for case in unique:
        if case.closed_at is not None:
            _close_time_changed(case)
    recorded = {
        row[0]: tuple(row[1:])
        for row in CaseCountKey.objects.filter(case_id__in=[c.pk for c in unique]).values_list(
            "case_id", *_KEY_FIELDS
        )
    }
    moved = False
    for case in unique:
        if recorded.get(case.pk) != _key_of(case):
            moved = _counts_changed(case) or moved
    return moved


def _close_time_changed(case) -> None:
    """The case's close-time row follows its closing."""
    if case.closed_at is None:
        CaseCloseTime.objects.filter(case_id=case.pk).delete()
        return
    current = CaseCloseTime.objects.filter(case_id=case.pk).values_list("closed_at", flat=True).first()
    if current == case.closed_at:
        return
    CaseCloseTime.objects.update_or_create(
        case_id=case.pk,
        defaults={
            "closed_at": case.closed_at,
            "working_hours": working_hours(case.received_at, case.closed_at),
        },
    )


def rebuild_close_times(chunk: int = 5000) -> int:
    """Rebuild the whole table from the cases (chunked by primary key; memory stays flat)."""

    CaseCloseTime.objects.all().delete()
    written = 0
    last = 0
    while True:
        rows = list(
            Case.objects.filter(pk__gt=last, closed_at__isnull=False)
            .order_by("pk")
            .values_list("pk", "received_at", "closed_at")[:chunk]
        )
        if not rows:
            figures.changed()
            return written
        with transaction.atomic():
            CaseCloseTime.objects.bulk_create(
                [
                    CaseCloseTime(case_id=pk, closed_at=c, working_hours=working_hours(r, c))
                    for pk, r, c in rows
                ],
                batch_size=chunk,
            )
        written += len(rows)
        last = rows[-1][0]


# --- daily case counts --------------------------------------------------------------------------------

# The dimensions counted one at a time ("" = all cases), and the `CaseCountKey` column of each.
COUNT_DIMENSIONS = {
    "": None,
    "category": "category_id",
    "branch": "branch_id",
    "channel": "channel_id",
    "region": "region",
    "product": "product",
}
_KEY_FIELDS = ("day", "kind", "category_id", "branch_id", "channel_id", "region", "product")
COUNT_KEY_COLUMNS = ["case_id", *_KEY_FIELDS]  # the tuples `cases_created` takes


def _key_of(case) -> tuple:
    """The values under which `case` is counted (in `_KEY_FIELDS` order)."""
    return (
        case.received_at.astimezone(SHANGHAI).date(),
        case.kind,
        case.category_id,
        case.branch_id,
        case.channel_id,
        case.region or "",
        case.product or "",
    )


def count_key(case) -> tuple:
    """The values `case` is counted under, in `_KEY_FIELDS` order (for `cases_created`)."""
    return _key_of(case)


def _contributions(key: tuple) -> Iterator[tuple[dt.date, str, str, str]]:
    values = dict(zip(_KEY_FIELDS, key, strict=True))
    for dimension, column in COUNT_DIMENSIONS.items():
        raw = values[column] if column else ""
        yield values["day"], values["kind"], dimension, "" if raw is None else str(raw)


def _counts_changed(case, *, created: bool = False) -> bool:
    """Move the case's contribution to `DailyCaseCount` when its day, kind or a dimension changed;
    whether it did."""
    new = _key_of(case)
    old = None if created else CaseCountKey.objects.filter(case_id=case.pk).values_list(*_KEY_FIELDS).first()
    if old == new:
        return False  # most transitions (status, deadlines) change none of them
    deltas: Counter = Counter()
    if old is not None:
        for item in _contributions(old):
            deltas[item] -= 1
    for item in _contributions(new):
        deltas[item] += 1
    _add_counts({k: v for k, v in deltas.items() if v})
    values = dict(zip(_KEY_FIELDS, new, strict=True))
    if old is None:
        CaseCountKey.objects.create(case_id=case.pk, **values)
    else:
        CaseCountKey.objects.filter(case_id=case.pk).update(**values)
    return True


_COUNT_TABLE = DailyCaseCount._meta.db_table
_KEY_TABLE = CaseCountKey._meta.db_table
_UPSERT = (
    f'ON CONFLICT ("day", "kind", "dimension", "key") DO UPDATE SET "n" = "{_COUNT_TABLE}"."n" + excluded."n"'
)


def _add_counts(deltas: dict[tuple, int]) -> None:
    """Add `deltas` {(day, kind, dimension, key): n} to the counts, one statement."""
    if not deltas:
        return
    rows = ", ".join(["(%s, %s, %s, %s, %s)"] * len(deltas))
    params: list[Any] = []
    for (day, kind, dimension, key), n in deltas.items():
        params += [day, kind, dimension, key, n]
    with connection.cursor() as cur:
        cur.execute(
            f'INSERT INTO "{_COUNT_TABLE}" ("day", "kind", "dimension", "key", "n") VALUES {rows} {_UPSERT}',
            params,
        )


def _key_union(where: str) -> str:
    """SQL: one row (day, kind, dimension, key) per recorded key and counted dimension."""
    parts = []
    for dimension, column in COUNT_DIMENSIONS.items():
        key = "''" if column is None else f"COALESCE(CAST(\"{column}\" AS TEXT), '')"
        parts.append(
            f'SELECT "day", "kind", \'{dimension}\' AS "dimension", {key} AS "key" FROM "{_KEY_TABLE}" WHERE {where}'
        )
    return " UNION ALL ".join(parts)


def _fold_keys(where: str, sign: int, params: list[Any]) -> None:
    """Add (sign +1) or subtract (-1) the contributions of the recorded keys matching `where`."""
    union = _key_union(where)
    with connection.cursor() as cur:
        cur.execute(
            f'INSERT INTO "{_COUNT_TABLE}" ("day", "kind", "dimension", "key", "n") '
            f'SELECT "day", "kind", "dimension", "key", {sign} * COUNT(*) FROM ({union}) AS u '
            f'WHERE 1 = 1 GROUP BY "day", "kind", "dimension", "key" {_UPSERT}',
            params * len(COUNT_DIMENSIONS),
        )


def _local_day_sql() -> str:
    if connection.vendor == "postgresql":
        return "CAST((c.\"received_at\" AT TIME ZONE 'Asia/Shanghai') AS date)"
    # SQLite: the fixed +08:00 of Asia/Shanghai since 1991, as the statistics engine's buckets.
    return "date(c.\"received_at\", '+8 hours')"


def _record_keys(where: str, params: list[Any]) -> None:

    with connection.cursor() as cur:
        cur.execute(
            f'INSERT INTO "{_KEY_TABLE}" ("case_id", "day", "kind", "category_id", "branch_id", "channel_id", '
            f'"region", "product") SELECT c."id", {_local_day_sql()}, c."kind", c."category_id", c."branch_id", '
            f'c."channel_id", COALESCE(c."region", \'\'), COALESCE(c."product", \'\') '
            f'FROM "{Case._meta.db_table}" AS c WHERE {where}',
            params,
        )


def _ids_condition(column: str, ids: list[int]) -> tuple[str, list[Any]]:
    if connection.vendor == "postgresql":
        return f"{column} = ANY(%s)", [ids]
    return f"{column} IN ({', '.join(['%s'] * len(ids))})", list(ids)


def cases_changed(case_ids: Iterable[int], chunk: int = 5000) -> None:
    """Set-based `case_changed` for the counts of many cases (the bulk importer: new and re-imported
    cases): per chunk, subtract the recorded contributions, record the cases' current keys, add them.
    A fixed number of statements per chunk, none per case."""
    ids = sorted(set(case_ids))
    for start in range(0, len(ids), chunk):
        part = ids[start : start + chunk]
        cond, params = _ids_condition('"case_id"', part)
        _fold_keys(cond, -1, params)
        with connection.cursor() as cur:
            cur.execute(f'DELETE FROM "{_KEY_TABLE}" WHERE {cond}', params)
        case_cond, case_params = _ids_condition('c."id"', part)
        _record_keys(case_cond, case_params)
        _fold_keys(cond, 1, params)


def cases_created(keys: list[tuple]) -> None:
    """The bulk importer's hook for the cases it has just written (in the chunk's transaction), from the
    values it holds: `keys` are (case_id, day, kind, category_id, branch_id, channel_id, region, product)
    with `day` the local date of receipt. Records the count keys and adds the day counts: two
    statements per chunk and no read-back of the cases (a million-row import stays set-based)."""
    if not keys:
        return
    per_key = Counter(tuple(k[1:]) for k in keys)
    deltas: Counter = Counter()
    for key, n in per_key.items():
        for item in _contributions(key):
            deltas[item] += n
    items = list(deltas.items())
    for start in range(0, len(items), 3000):  # within the databases' limit of bound parameters
        _add_counts(dict(items[start : start + 3000]))
    columns = ", ".join(f'"{c}"' for c in ("case_id", *_KEY_FIELDS))
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            with cur.cursor.copy(f'COPY "{_KEY_TABLE}" ({columns}) FROM STDIN') as copy:
                for row in keys:
                    copy.write_row(row)
        else:
            marks = ", ".join(["%s"] * (len(_KEY_FIELDS) + 1))
            cur.executemany(
                f'INSERT INTO "{_KEY_TABLE}" ({columns}) VALUES ({marks})',
                [(k[0], k[1].isoformat(), *k[2:]) for k in keys],
            )


def rebuild_daily_counts() -> int:
    """Rebuild the counts for existing data (after an upgrade or a raw bulk load): two set-based
    statements over the cases (INSERT … SELECT, INSERT … SELECT … GROUP BY). Returns the cases counted."""
    with transaction.atomic():
        DailyCaseCount.objects.all().delete()
        CaseCountKey.objects.all().delete()
        _record_keys("1 = 1", [])
        _fold_keys("1 = 1", 1, [])
        figures.changed()
    return CaseCountKey.objects.count()


# --- reading -----------------------------------------------------------------------------------------

_enabled: contextvars.ContextVar[bool] = contextvars.ContextVar("kesu_daily_counts", default=True)


@contextmanager
def live_tables() -> Iterator[None]:
    """Inside: the statistics engine counts over the live case table only (to compare and to measure)."""
    token = _enabled.set(False)
    try:
        yield
    finally:
        _enabled.reset(token)


def daily_counts_enabled() -> bool:
    return _enabled.get()


_memo: contextvars.ContextVar[dict | None] = contextvars.ContextVar("kesu_report_memo", default=None)


@contextmanager
def report_scope() -> Iterator[None]:
    """Inside: one report's reads share what cannot change while it is built — the consistency check
    of each range of days (`accounts_for`) and the small dimension tables' id maps — instead of
    repeating them for every figure (a few milliseconds each, ~40 times per monthly report)."""
    token = _memo.set({})
    try:
        yield
    finally:
        _memo.reset(token)


def memoized(key: tuple, compute):
    """`compute()`, once per `key` inside `report_scope` (every time outside)."""
    cache = _memo.get()
    if cache is None:
        return compute()
    if key not in cache:
        cache[key] = compute()
    return cache[key]


_live: contextvars.ContextVar[list | None] = contextvars.ContextVar("kesu_live_reads", default=None)


@contextmanager
def tracking() -> Iterator[list]:
    """Inside: the list yielded gets an entry for every figure counted over the live table instead of
    the daily counts (`counted_live`): empty after, the figures read the rollup alone."""
    seen: list = []
    token = _live.set(seen)
    try:
        yield seen
    finally:
        _live.reset(token)


def counted_live() -> None:
    """The statistics engine counted a figure over the live table (inside `tracking`)."""
    seen = _live.get()
    if seen is not None:
        seen.append(True)


def accounts_for(date_from: dt.date | None, date_to: dt.date | None) -> bool:
    """Whether the counts hold every case received on these local days (inclusive; None = open end).

    The check that makes reading them safe: a case written past the rollup hooks (a raw load, a
    deletion, an importer without the hook) makes the totals differ and the caller counts the live
    table instead. Two index-only counts.
    """
    return memoized(("accounts_for", date_from, date_to), lambda: _accounts_for(date_from, date_to))


def _accounts_for(date_from: dt.date | None, date_to: dt.date | None) -> bool:
    from django.db.models import Sum

    rolled = DailyCaseCount.objects.filter(dimension="")
    if date_from:
        rolled = rolled.filter(day__gte=date_from)
    if date_to:
        rolled = rolled.filter(day__lte=date_to)
    return (rolled.aggregate(n=Sum("n"))["n"] or 0) == received_count(date_from, date_to)


def received_count(date_from: dt.date | None, date_to: dt.date | None) -> int:
    """Cases received on these local days (inclusive; None = open end), every kind: an index-only count,
    once per `report_scope` (the analytics page's cache key reads it, its consistency check again)."""

    def count() -> int:
        live = Case.objects.all()
        if date_from:
            live = live.filter(received_at__gte=local_midnight(date_from))
        if date_to:
            live = live.filter(received_at__lt=local_midnight(date_to + dt.timedelta(days=1)))
        return live.count()

    return memoized(("received", date_from, date_to), count)


def daily_count_rows(
    date_from: dt.date | None,
    date_to: dt.date | None,
    kinds: list[str],
    dimension: str,
    *,
    by_kind: bool = False,
    bucket: str | None = None,
) -> list[dict[str, Any]]:
    """Counts per key of `dimension` (and per kind, per `bucket` start date when asked) over the days,
    zero sums left out: rows {"key": str, "kind": str, "bucket": date, "count": n}."""
    from django.db.models import Sum

    qs = DailyCaseCount.objects.filter(dimension=dimension)
    if date_from:
        qs = qs.filter(day__gte=date_from)
    if date_to:
        qs = qs.filter(day__lte=date_to)
    if kinds:
        qs = qs.filter(kind__in=kinds)
    group = ["key"] + (["kind"] if by_kind else []) + (["day"] if bucket else [])
    if bucket in ("month", "quarter", "year"):
        # Summed per month by the database (a year of one dimension: ~400 rows instead of ~11,000 days),
        # each month then falls into its bucket here.
        qs = qs.annotate(month=_month_of_day())
        group[-1] = "month"
    totals: Counter = Counter()
    for row in qs.values(*group).annotate(count=Sum("n")).order_by().values_list(*group, "count"):
        *parts, n = row
        if bucket:
            parts[-1] = bucket_start(_as_date(parts[-1]), bucket)
        totals[tuple(parts)] += n
    out = []
    for parts, n in totals.items():
        if n:
            row = dict(
                zip(
                    ["key"] + (["kind"] if by_kind else []) + (["bucket"] if bucket else []),
                    parts,
                    strict=True,
                )
            )
            row["count"] = n
            out.append(row)
    return out


def _month_of_day():
    """The first day of the month of the rollup's `day` (SQLite stores dates as ISO text)."""
    if connection.vendor == "sqlite":
        return Func(F("day"), template="substr(%(expressions)s, 1, 8) || '01'", output_field=CharField())
    return TruncMonth("day", output_field=DateField())


def _as_date(value: Any) -> dt.date:
    return dt.date.fromisoformat(value[:10]) if isinstance(value, str) else value
