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
    for model in ("regression_ets", "profile_ets"):
        assert result[model]["mase"] < result["seasonal_naive"]["mase"]
        assert result[model]["mase"] < result["moving_average_28"]["mase"]
        assert 0.6 <= result[model]["coverage_80"] <= 1.0
    assert fc.choose_model(result) in ("regression_ets", "profile_ets")


def test_the_regression_model_beats_seasonal_naive_and_its_intervals_cover_about_80_percent():
    rng = np.random.default_rng(8)
    days = _days(3 * 365, dt.date(2023, 1, 1))
    # A yearly swing of ±40% on top of the weekly profile: seasonal naive lags it, the regression follows it.
    season = np.array([1 + 0.4 * np.sin(2 * np.pi * d.timetuple().tm_yday / 365.25) for d in days])
    lam = np.array([30 * PROFILE[d.weekday()] for d in days]) * season
    y = rng.poisson(lam).astype(float)
    result = fc.backtest(y, days, horizon=7, origins=30, step=7, calendar=fc.weekend_calendar)
    assert result["regression_ets"]["mase"] < 0.9 * result["seasonal_naive"]["mase"]
    assert result["regression_ets"]["mase"] < result["profile_ets"]["mase"]
    assert 0.7 <= result["regression_ets"]["coverage_80"] <= 0.9
    # Half a year ahead the yearly cycle carries the forecast: the peak (around 1 April) well above the
    # trough (around 1 October).
    cut = days.index(dt.date(2025, 1, 1))
    ahead = fc.forecast(y[:cut], days[:cut], 300, calendar=fc.weekend_calendar)
    future = [days[cut - 1] + dt.timedelta(days=h) for h in range(1, 301)]
    peak = np.mean([m for m, d in zip(ahead.mean, future, strict=True) if d.month == 4])
    trough = np.mean([m for m, d in zip(ahead.mean, future, strict=True) if d.month == 10])
    assert peak > 1.5 * trough
    f = fc.forecast(y[:100], days[:100], 14)  # less than a year: no yearly terms, still a forecast
    assert f.model == "regression_ets" and np.all(f.lo <= f.mean) and np.all(f.mean <= f.hi)


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
