"""Surge warnings and forecasts on generated series (fixed seeds)."""

from __future__ import annotations

import datetime as dt

import numpy as np

from kesu.insight import forecast as fc
from kesu.insight import surge

PROFILE = np.array([1.25, 1.15, 1.0, 1.0, 1.1, 0.8, 0.7])


def _days(n: int, start: dt.date = dt.date(2024, 1, 1)) -> list[dt.date]:
    return [start + dt.timedelta(days=i) for i in range(n)]


def _series(days, level: float, rng, calendar=fc.weekend_calendar) -> np.ndarray:
    lam = np.array([level * PROFILE[d.weekday()] * (0.4 if calendar(d) == fc.HOLIDAY else 1.0) for d in days])
    return rng.poisson(lam).astype(float)


def test_an_injected_surge_fires_a_warning():
    rng = np.random.default_rng(7)
    days = _days(120)
    y = _series(days, 10, rng)
    quiet = surge.check(y[50:106], days[50:106], int(y[106]), days[106])
    y[106] += 20  # a doubling-plus on one day
    loud = surge.check(y[50:106], days[50:106], int(y[106]), days[106])
    assert not quiet.alarm
    assert loud.alarm and loud.observed == int(y[106]) and loud.observed >= loud.upper > loud.expected
    assert loud.p_value < surge.DEFAULT_ALPHA


def test_a_year_of_daily_checks_without_surge_stays_under_the_designed_false_alarm_rate():
    alarms = checks = 0
    for seed in (11, 12, 13):
        rng = np.random.default_rng(seed)
        days = _days(365 + 56)
        y = _series(days, 12, rng)
        results = surge.scan(y, days, start=56)
        checks += len(results)
        alarms += sum(c.alarm for _, c in results)
    # Designed: at most alpha (0.5%) per check; allow the margin of estimating the baseline.
    assert checks == 3 * 365
    assert alarms / checks <= 2 * surge.DEFAULT_ALPHA


def test_holidays_lower_the_expected_count():
    rng = np.random.default_rng(3)
    days = _days(200, dt.date(2025, 7, 1))
    y = _series(days, 20, rng, fc.china_calendar)
    national_day = dt.date(2025, 10, 2)  # a Thursday, statutory holiday
    i = days.index(national_day)
    on_holiday = surge.check(y[i - 56 : i], days[i - 56 : i], 0, national_day, calendar=fc.china_calendar)
    as_workday = surge.check(y[i - 56 : i], days[i - 56 : i], 0, national_day, calendar=fc.weekend_calendar)
    assert on_holiday.expected < 0.8 * as_workday.expected


def test_forecast_beats_seasonal_naive_on_a_weekly_series_with_holiday_dips():
    rng = np.random.default_rng(5)
    days = _days(400, dt.date(2024, 6, 1))
    y = _series(days, 40, rng, fc.china_calendar)
    result = fc.backtest(y, days, horizon=7, origins=20, step=7, calendar=fc.china_calendar)
    assert result["profile_ets"]["mase"] < result["seasonal_naive"]["mase"]
    assert result["profile_ets"]["mase"] < result["moving_average_28"]["mase"]
    assert fc.choose_model(result) == "profile_ets"
    assert 0.6 <= result["profile_ets"]["coverage_80"] <= 1.0


def test_forecast_has_intervals_around_the_mean():
    rng = np.random.default_rng(9)
    days = _days(120)
    y = _series(days, 30, rng)
    f = fc.forecast(y, days, 30)
    assert f.mean.shape == (30,)
    assert np.all(f.lo <= f.mean) and np.all(f.mean <= f.hi)
    # The weekly pattern carries into the forecast: Mondays above Sundays.
    future = [days[-1] + dt.timedelta(days=h) for h in range(1, 31)]
    mondays = [m for m, d in zip(f.mean, future, strict=True) if d.weekday() == 0]
    sundays = [m for m, d in zip(f.mean, future, strict=True) if d.weekday() == 6]
    assert min(mondays) > max(sundays)
