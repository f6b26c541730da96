"""Time buckets are local (Asia/Shanghai) days, weeks, months, quarters and years on every database."""

from __future__ import annotations

import datetime as dt

import pytest

from kesu.analytics import selectors
from kesu.analytics.selectors import StatFilters
from tests.analytics.util import at, register

pytestmark = pytest.mark.django_db

# Around local midnights where the UTC date is still the day before: the buckets must follow the
# local date (a case received at 00:30 on 1 April in Shanghai is an April case, Q2).
INSTANTS = [
    at(2026, 3, 31, 23, 50),  # Tuesday, March, Q1
    at(2026, 4, 1, 0, 30),  # Wednesday, April, Q2 (16:30 UTC on 31 March)
    at(2026, 4, 5, 23, 59),  # Sunday: still the week of Monday 30 March
    at(2026, 4, 6, 0, 1),  # Monday: a new week (16:01 UTC on Sunday)
    at(2026, 12, 31, 23, 0),  # 2026, Q4
    at(2027, 1, 1, 0, 0),  # 2027, Q1 (16:00 UTC on 31 December 2026)
]


@pytest.mark.parametrize(
    ("bucket", "expected"),
    [
        (
            "day",
            {
                dt.date(2026, 3, 31): 1,
                dt.date(2026, 4, 1): 1,
                dt.date(2026, 4, 5): 1,
                dt.date(2026, 4, 6): 1,
                dt.date(2026, 12, 31): 1,
                dt.date(2027, 1, 1): 1,
            },
        ),
        (
            "week",
            {
                dt.date(2026, 3, 30): 3,
                dt.date(2026, 4, 6): 1,
                dt.date(2026, 12, 28): 2,
            },
        ),
        (
            "month",
            {
                dt.date(2026, 3, 1): 1,
                dt.date(2026, 4, 1): 3,
                dt.date(2026, 12, 1): 1,
                dt.date(2027, 1, 1): 1,
            },
        ),
        (
            "quarter",
            {dt.date(2026, 1, 1): 1, dt.date(2026, 4, 1): 3, dt.date(2026, 10, 1): 1, dt.date(2027, 1, 1): 1},
        ),
        ("year", {dt.date(2026, 1, 1): 5, dt.date(2027, 1, 1): 1}),
    ],
)
def test_cases_fall_in_their_local_bucket(org, bucket, expected):
    for when in INSTANTS:
        register(org, when)
    rows = selectors.count_by(StatFilters(), bucket=bucket)
    assert {r["bucket"]: r["count"] for r in rows} == expected
