"""Surge detection (预警) on count series. Pure numpy/scipy, no Django.

For a day to check, the expected count comes from the series' own recent history (the last
`baseline_days`, the checked day excluded): level × weekday profile × day-type factor, the same
decomposition as the forecaster (`kesu.insight.forecast.ProfileETS`, weekday and holiday effects
from the working-day calendar). The alarm limit is the upper quantile of a negative-binomial
distribution with that mean and the over-dispersion measured on the history (Poisson when the
history shows none): the day alarms when P(X ≥ observed) ≤ alpha. So each check has a designed
false-alarm probability of at most `alpha` (0.5% by default: about two false alarms a year per
daily series) plus the error of estimating the baseline, which the tests bound.
A minimum observed count (`min_count`) keeps a series with an expected 0.2 from alarming on 2.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from kesu.insight.forecast import DayKind, ProfileETS, day_features, weekend_calendar

DEFAULT_ALPHA = 0.005


@dataclass
class Check:
    observed: int
    expected: float
    upper: int  # the smallest count that alarms
    p_value: float
    alarm: bool
    dispersion: float  # negative-binomial size k (inf = Poisson)


def _dispersion(y: np.ndarray, mu: np.ndarray) -> float:
    """Method-of-moments NB size k from Pearson residuals; inf when no over-dispersion."""
    mu = np.maximum(mu, 1e-6)
    excess = float(np.mean(((y - mu) ** 2 - mu) / mu**2))
    if excess <= 1e-3:
        return math.inf
    return 1.0 / excess


def upper_limit(mean: float, k: float, alpha: float) -> tuple[int, object]:
    """Smallest count c with P(X ≥ c) ≤ alpha for Poisson(mean) or NB(mean, size k)."""
    mean = max(mean, 1e-6)
    if math.isinf(k):
        dist = stats.poisson(mean)
    else:
        dist = stats.nbinom(k, k / (k + mean))
    return int(dist.isf(alpha)) + 1, dist


def check(
    history: Sequence[float],
    history_days: Sequence[dt.date],
    observed: int,
    day: dt.date,
    *,
    calendar: DayKind = weekend_calendar,
    alpha: float = DEFAULT_ALPHA,
    min_count: int = 3,
    baseline_days: int = 56,
) -> Check:
    y = np.asarray(history, dtype=float)[-baseline_days:]
    days = list(history_days)[-baseline_days:]
    if len(y) < 14:
        return Check(observed, float(y.mean()) if len(y) else 0.0, 10**9, 1.0, False, math.inf)
    model = ProfileETS(weeks=max(2, baseline_days // 7), alphas=(0.1,)).fit(y, days, calendar)
    # Expected for the checked day: the level is the plain mean of the deseasonalised history
    # (stable against a surge that started yesterday, unlike an exponentially weighted level).
    kinds = day_features(days, calendar)
    season_hist = np.array([model._season(kinds[i], days[i].weekday()) for i in range(len(y))])
    level = float(np.mean((y + 0.5) / season_hist))
    kind_day = day_features([*days[-7:], day], calendar)[-1]
    expected = max(0.0, level * model._season(kind_day, day.weekday()) - 0.5)
    k = _dispersion(y, np.maximum(level * season_hist - 0.5, 0.05))
    # Estimation error of the expected count inflates the variance: the weekday profile rests on
    # the ~n/7 earlier days of the same weekday, so Var(estimate) ≈ 7·mean/n; fold it into k.
    n = len(y)
    extra = 7.0 / max(n * max(expected, 1e-6), 1e-9)
    k = 1.0 / (1.0 / k + extra) if not math.isinf(k) else 1.0 / extra
    upper, dist = upper_limit(expected, k, alpha)
    p = float(dist.sf(observed - 1)) if observed > 0 else 1.0
    alarm = observed >= max(upper, min_count)
    return Check(int(observed), round(expected, 3), max(upper, min_count), p, alarm, k)


def scan(
    y: Sequence[float],
    days: Sequence[dt.date],
    *,
    start: int,
    calendar: DayKind = weekend_calendar,
    alpha: float = DEFAULT_ALPHA,
    min_count: int = 3,
    baseline_days: int = 56,
) -> list[tuple[dt.date, Check]]:
    """Check every day from index `start` against the days before it (a daily monitor's history)."""
    out = []
    for i in range(start, len(y)):
        c = check(
            y[max(0, i - baseline_days) : i],
            days[max(0, i - baseline_days) : i],
            int(y[i]),
            days[i],
            calendar=calendar,
            alpha=alpha,
            min_count=min_count,
            baseline_days=baseline_days,
        )
        out.append((days[i], c))
    return out
