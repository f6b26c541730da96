"""KPIs on a hand-built set of cases whose right answers are worked out here.

October 2025 (Asia/Shanghai). National Day holidays 1–8 October; Saturday 11 October is an
adjusted working day. Working time counts business hours (9:00–12:00, 13:30–18:00 = 7.5 h a
day) of working days, on the deadline engine's calendar.

  A  received  9 Oct 10:00, closed 10 Oct 10:00                 → 6.5 h + 1 h = 7.5 h; repeated by E
  B  received  9 Oct 10:00, special closure 9 Oct 12:00          → 2 h; excluded from the closing rate
  C  received 10 Oct 10:00, closed 13 Oct 10:00, follow-up unsatisfied → reopened (open again)
  D  received 20 Oct 10:00, registered 30 h later, still open      → late registration
  E  received 21 Oct 10:00, same customer and matter as A          → repeat complaint, open
  G  received 31 Oct 23:30 (Fri), closed 3 Nov 10:00 (Mon)         → 0 + 0 + 0 + 1 h = 1 h
  H  received  1 Nov 01:00 local (31 Oct 17:00 UTC)                → November, not October
  F  received 30 Sep 10:00, closed 9 Oct 10:00 (across the holiday) → September: 6.5 h + 1 h = 7.5 h
"""

from __future__ import annotations

import datetime as dt

import pytest

from kesu.analytics import kpis
from kesu.analytics.periods import Period
from kesu.analytics.selectors import StatFilters, case_queryset, count_by
from kesu.analytics.worktime import working_hours
from tests.analytics.util import at, close, follow_up, register, special_close

pytestmark = pytest.mark.django_db


@pytest.fixture
def cases(org):
    a = register(org, at(2025, 10, 9), customer={"name": "甲", "phone": "13900000001"})
    close(org, a, at(2025, 10, 10))
    follow_up(org, a, at(2025, 10, 11), 5)
    b = register(org, at(2025, 10, 9))
    special_close(org, b, at(2025, 10, 9, 12))
    c = register(org, at(2025, 10, 10))
    close(org, c, at(2025, 10, 13))
    follow_up(org, c, at(2025, 10, 14), 1)
    d = register(org, at(2025, 10, 20), registered=at(2025, 10, 21, 16))
    e = register(org, at(2025, 10, 21), customer={"name": "甲", "phone": "13900000001"})
    g = register(org, at(2025, 10, 31, 23, 30))
    close(org, g, at(2025, 11, 3), start=at(2025, 11, 1, 9))
    h = register(org, at(2025, 11, 1, 1))
    f = register(org, at(2025, 9, 30))
    close(org, f, at(2025, 10, 9), start=at(2025, 9, 30, 11))
    return {"a": a, "b": b, "c": c, "d": d, "e": e, "f": f, "g": g, "h": h}


def test_working_hours_skip_holidays_and_count_adjusted_weekend(db):
    assert working_hours(at(2025, 9, 30), at(2025, 10, 9)) == 7.5  # 1–8 Oct are holidays
    assert working_hours(at(2025, 10, 10), at(2025, 10, 13)) == 6.5 + 7.5 + 1  # Sat 11 Oct works, Sun 12 not
    assert working_hours(at(2025, 10, 31, 23, 30), at(2025, 11, 3)) == 1.0


def test_october_kpis(cases):
    october = StatFilters.for_period(Period.parse("2025-10"))
    row = kpis.overall(october, now=at(2025, 11, 5))
    assert row["volume"] == 6  # A B C D E G; H is November in Shanghai time, F September
    assert row["closing_rate"] == 40.0  # A, G finished of A C D E G (B special excluded)
    assert row["counts"]["closing_base"] == 5
    assert row["first_contact_resolution"] == 50.0  # G of A, G (A was complained about again)
    assert row["repeat_rate"] == round(100 / 6, 1)
    assert row["reopen_rate"] == 25.0  # C of A B C G
    assert row["satisfaction_rate"] == 50.0  # A satisfied, C not
    assert row["avg_close_hours"] == 3.5  # (A 7.5 + B 2 + G 1) / 3
    assert row["p90_close_hours"] == 7.5
    assert row["registration_timeliness"] == round(500 / 6, 1)  # D registered 30 h late
    assert row["escalation_rate"] == 0.0


def test_month_boundary_and_september(cases):
    sept = kpis.overall(StatFilters.for_period(Period.parse("2025-09")), now=at(2025, 11, 5))
    assert sept["volume"] == 1
    assert sept["closing_rate"] == 100.0
    assert sept["avg_close_hours"] == 7.5  # 30 Sep 6.5 h + 9 Oct 1 h
    nov = count_by(StatFilters.for_period(Period.parse("2025-11")))
    assert sum(r["count"] for r in nov) == 1
    assert list(case_queryset(StatFilters.for_period(Period.parse("2025-11")))) == [cases["h"]]


def test_kpis_by_handler_and_department(cases, org):
    october = StatFilters.for_period(Period.parse("2025-10"))
    by_dept = {r["key"]: r for r in kpis.compute_kpis(october, "department", now=at(2025, 11, 5))}
    # A B C G were assigned to 质量管理部; D and E were never assigned.
    assert by_dept["QUALITY"]["volume"] == 4
    assert by_dept["QUALITY"]["label"] == "质量管理部"
    assert by_dept["QUALITY"]["closing_rate"] == round(200 / 3, 1)  # A G of A C G
    assert by_dept["__none__"]["volume"] == 2
    assert by_dept["__none__"]["closing_rate"] == 0.0
    by_handler = {r["key"]: r for r in kpis.compute_kpis(october, "handler", now=at(2025, 11, 5))}
    assert by_handler[str(org.handler.pk)]["volume"] == 4


@pytest.mark.parametrize("group", ["department", "handler"])
@pytest.mark.parametrize("month", ["2025-10", "2025-09", "2024-01"])
def test_overall_summed_from_the_groups_equals_the_overall_query(cases, group, month):
    # The monthly report and the KPI page take the overall row from the groups' counts.
    filters = StatFilters.for_period(Period.parse(month))
    now = at(2025, 11, 5)
    overall, rows = kpis.compute_kpis_with_overall(filters, group, now=now)
    assert overall == kpis.overall(filters, now=now)
    assert rows == kpis.compute_kpis(filters, group, now=now)
    assert overall["volume"] == sum(r["volume"] for r in rows)


def test_registration_on_time_up_to_the_limit_exactly(org):
    # The default record limit is 24 hours after the receipt; the boundary itself is on time.
    received = at(2025, 12, 1) + dt.timedelta(microseconds=250000)
    register(org, received, registered=received + dt.timedelta(hours=24))
    register(org, received, registered=received + dt.timedelta(hours=24, microseconds=1))
    register(org, received, registered=received + dt.timedelta(hours=23, minutes=59, seconds=55))
    register(org, received, registered=received + dt.timedelta(hours=24, seconds=5))
    row = kpis.overall(StatFilters.for_period(Period.parse("2025-12")), now=at(2025, 12, 5))
    assert row["volume"] == 4
    assert row["registration_timeliness"] == 50.0


def test_every_kpi_has_a_written_definition():
    for kpi in kpis.KPIS:
        assert kpi.name and len(kpi.definition) > 10


def test_period_navigation():
    nov = Period.parse("2026-11")
    assert (nov.previous().start, nov.previous().end) == (dt.date(2026, 10, 1), dt.date(2026, 11, 1))
    assert nov.year_ago().start == dt.date(2025, 11, 1)
    week = Period.parse("2026-W02")
    assert week.start == dt.date(2026, 1, 5) and week.previous().start == dt.date(2025, 12, 29)
    assert Period.parse("2026-Q1").previous().start == dt.date(2025, 10, 1)
