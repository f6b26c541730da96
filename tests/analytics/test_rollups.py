"""The close-time rollup agrees with the live case table after registrations and transitions."""

from __future__ import annotations

import datetime as dt
import math

import pytest

from kesu.analytics import kpis
from kesu.analytics.models import CaseCloseTime
from kesu.analytics.rollups import rebuild_close_times
from kesu.analytics.selectors import StatFilters
from kesu.analytics.worktime import working_hours
from kesu.cases.models import Case
from kesu.cases.services import perform
from tests.analytics.util import at, close, follow_up, register, special_close

pytestmark = pytest.mark.django_db

OCTOBER = StatFilters(date_from=dt.date(2026, 9, 1), date_to=dt.date(2026, 10, 31))


def live_close_hours() -> dict[int, float]:
    return {
        c.pk: working_hours(c.received_at, c.closed_at)
        for c in Case.objects.filter(closed_at__isnull=False).order_by("pk")
    }


def rollup() -> dict[int, float]:
    return dict(CaseCloseTime.objects.values_list("case_id", "working_hours"))


def expected_figures(hours: list[float]) -> tuple[float, float]:
    ordered = sorted(hours)
    return round(sum(ordered) / len(ordered), 1), round(ordered[math.ceil(0.9 * len(ordered)) - 1], 1)


def test_close_times_follow_registrations_and_transitions(org):
    # Received before the National Day holiday, closed after it (the holiday is not working time).
    over_holiday = close(org, register(org, at(2026, 9, 29, 16)), at(2026, 10, 9, 11))
    quick = close(org, register(org, at(2026, 10, 12, 9, 30)), at(2026, 10, 12, 17))
    reopened = close(org, register(org, at(2026, 10, 13, 10)), at(2026, 10, 15, 10))
    special = special_close(org, register(org, at(2026, 10, 14, 11)), at(2026, 10, 16, 15))
    still_open = register(org, at(2026, 10, 19, 10))
    for n in range(8):
        close(org, register(org, at(2026, 10, 20 + n % 3, 9 + n)), at(2026, 10, 26, 10 + n % 5))

    assert rollup() == live_close_hours()
    assert still_open.pk not in rollup()
    assert special.pk in rollup()  # closed (specially): it has a time to close
    assert rollup()[over_holiday.pk] < 8 * 7.5  # 8 working days at most, not the 10 calendar days
    assert rollup()[quick.pk] == working_hours(quick.received_at, quick.closed_at)

    # An unsatisfied follow-up within the window reopens the case: its row goes …
    follow_up(org, reopened, at(2026, 10, 16, 10), score=1)
    assert reopened.status == "investigating"
    assert reopened.pk not in rollup()
    assert rollup() == live_close_hours()
    # … and comes back with the new closing.
    perform(
        reopened,
        "propose_remedy",
        org.handler,
        now=at(2026, 10, 19, 10),
        remedy_type="explanation",
        description="补充说明",
    )
    perform(reopened, "reply", org.handler, now=at(2026, 10, 20, 15), text="已再次答复")
    perform(reopened, "close", org.handler, now=at(2026, 10, 20, 16), criterion="accepted")
    reopened.refresh_from_db()
    assert rollup()[reopened.pk] == working_hours(reopened.received_at, at(2026, 10, 20, 16))
    assert rollup() == live_close_hours()

    # The KPI figures read from the rollup are the figures of the live cases.
    figures = kpis.overall(OCTOBER)
    assert (figures["avg_close_hours"], figures["p90_close_hours"]) == expected_figures(
        list(live_close_hours().values())
    )

    # Rebuilding from scratch gives the same rows; a missing row is computed on the fly, exactly.
    before = rollup()
    assert rebuild_close_times() == len(before)
    assert rollup() == before
    CaseCloseTime.objects.filter(case_id__in=[over_holiday.pk, quick.pk]).delete()
    again = kpis.overall(OCTOBER)
    assert (again["avg_close_hours"], again["p90_close_hours"]) == expected_figures(list(before.values()))


def test_close_times_per_department_match_the_live_cases(org):
    for n in range(6):
        case = close(org, register(org, at(2026, 10, 12 + n, 10)), at(2026, 10, 22, 9 + n))
        assert case.closed_at is not None
    rows = kpis.compute_kpis(OCTOBER, "department")
    live: dict[str, list[float]] = {}
    for c in Case.objects.filter(closed_at__isnull=False).select_related("department"):
        live.setdefault(c.department.code, []).append(working_hours(c.received_at, c.closed_at))
    assert rows
    for row in rows:
        assert (row["avg_close_hours"], row["p90_close_hours"]) == expected_figures(live[row["key"]])
