"""The analytics page's figures: the same numbers as the statistics engine's general functions give (what
the page computed before it read only what it shows), from the cache until a case changes."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from kesu.analytics import kpis, rollups, selectors, weekly
from kesu.analytics.models import CaseCloseTime
from kesu.analytics.periods import SHANGHAI, Period
from kesu.analytics.rollups import live_tables
from kesu.analytics.selectors import StatFilters
from kesu.cases.models import Case
from kesu.cases.services import perform
from tests import factories
from tests.analytics.util import close, follow_up, register, special_close
from tests.perf.bulk import clone_cases

pytestmark = pytest.mark.django_db


def page(user) -> dict:
    client = Client()
    client.force_login(user)
    response = client.get("/analytics/")
    assert response.status_code == 200
    return response.context


def shown(ctx) -> dict:
    """The numbers the page shows (cards, flags and every chart series)."""
    charts = ctx["chart_data"]
    return {
        "total": ctx["total"],
        "month": None if ctx["month_row"] is None else ctx["month_row"]["count"],
        "mom": None if ctx["month_row"] is None else ctx["month_row"]["mom_pct"],
        "flags": {code: item["count"] for code, item in ctx["flags"].items()},
        "kpi": {code: ctx["kpi"][code] for code in kpis.HEADLINE},
        "trend": [(s["name"], s["data"]) for s in charts["trend"]["series"]],
        "stacked": [(s["name"], s["data"]) for s in charts["stacked"]["series"]],
        "pareto": list(zip(charts["pareto"]["labels"], charts["pareto"]["counts"], strict=True)),
        "heatmap": charts["heatmap"]["cells"],
        "regions": charts["regions"]["counts"],
    }


def engine(user) -> dict:
    """The same figures from the engine's general functions, as the page computed them before (the whole
    KPI table, every flag in one aggregate)."""
    today = timezone.now().astimezone(SHANGHAI).date()
    f = StatFilters(date_from=Period.of("month", today - dt.timedelta(days=365)).start, date_to=today)
    month = selectors.compare(StatFilters(), Period.month_to_date(today), user=user)
    overall = kpis.overall(f, user=user)
    return {
        "total": selectors.total(f, user=user),
        "month": month[0]["count"] if month else None,
        "mom": month[0]["mom_pct"] if month else None,
        "flags": {code: item["count"] for code, item in selectors.special_lists(f, user=user).items()},
        "kpi": {code: overall[code] for code in kpis.HEADLINE},
        "trend": [(s["name"], s["data"]) for s in selectors.trend(f, "month", user=user)["series"]],
        "stacked": [
            (s["name"], s["data"]) for s in selectors.trend(f, "month", "category", user=user)["series"]
        ],
        "pareto": [(r["label"], r["count"]) for r in selectors.pareto(f, "subcategory", user=user)["rows"]],
        "heatmap": [[c["x"], c["y"], c["count"]] for c in selectors.heatmap(f, user=user)["cells"]],
        "regions": [
            r["count"]
            for r in sorted(selectors.count_by(f, ["region"], user=user), key=lambda r: -r["count"])[:15]
        ],
    }


@pytest.fixture
def history(org):
    """Cases of the last months: closed (with a follow-up), specially closed, open and overdue, reopened."""
    now = timezone.now()
    closed = close(org, register(org, now - dt.timedelta(days=40)), now - dt.timedelta(days=30))
    follow_up(org, closed, now - dt.timedelta(days=20), 5)
    close(
        org,
        register(org, now - dt.timedelta(days=70), category="service.attitude"),
        now - dt.timedelta(days=60),
    )
    special_close(org, register(org, now - dt.timedelta(days=10)), now - dt.timedelta(days=9))
    overdue = register(org, now - dt.timedelta(days=3), category="service.attitude")
    Case.objects.filter(pk=overdue.pk).update(due_at=now - dt.timedelta(hours=1))
    register(org, now - dt.timedelta(days=200), category="product.defect")
    register(org, now - dt.timedelta(hours=2))
    return overdue


def test_the_page_shows_the_engines_figures(org, history):
    for user in (org.manager, org.analyst, org.claims_head):
        cache.clear()
        ctx = page(user)
        assert shown(ctx) == engine(user), user
        assert shown(page(user)) == shown(ctx), user  # from the cache: the same
        with live_tables():
            assert shown(page(user)) == shown(ctx), user
    assert shown(page(org.manager))["kpi"]["avg_close_hours"] is not None
    assert shown(page(org.manager))["flags"]["overdue"] == 2  # the one made overdue and the one of 200 days


def test_headline_kpis_complete_missing_close_times_from_the_calendar(org, history):
    today = timezone.now().astimezone(SHANGHAI).date()
    f = StatFilters(date_from=today - dt.timedelta(days=365), date_to=today)
    before = kpis.headline(f, user=org.manager)
    CaseCloseTime.objects.all().delete()
    assert kpis.headline(f, user=org.manager) == before
    overall = kpis.overall(f, user=org.manager)
    assert before == {code: overall[code] for code in kpis.HEADLINE}


def test_a_case_event_renews_the_cached_figures(org, history, django_capture_on_commit_callbacks):
    cache.clear()
    first = shown(page(org.manager))
    with django_capture_on_commit_callbacks(execute=True):
        factories.make_case(org.intake)
    assert shown(page(org.manager))["total"] == first["total"] + 1
    # A status change (no count of the daily rollup moves): the closing rate's base grows.
    open_case = Case.objects.filter(status="registered").order_by("-pk").first()
    before = shown(page(org.manager))
    with django_capture_on_commit_callbacks(execute=True):
        perform(open_case, "mark_invalid", org.intake, reason="not_specific")
    after = shown(page(org.manager))
    assert after["kpi"]["closing_rate"] != before["kpi"]["closing_rate"]
    assert after == engine(org.manager)


def test_a_deadline_passing_renews_the_cached_figures(org, history, monkeypatch):
    start = timezone.now()
    recent = Case.objects.get(status="registered", received_at__gt=start - dt.timedelta(hours=3))
    Case.objects.filter(pk=recent.pk).update(due_at=start + dt.timedelta(minutes=5))
    cache.clear()
    assert shown(page(org.manager))["flags"]["overdue"] == 2
    later = start + dt.timedelta(minutes=6)
    monkeypatch.setattr(timezone, "now", lambda: later)  # no event: only the clock moved past a deadline
    assert shown(page(org.manager))["flags"]["overdue"] == 3
    assert shown(page(org.manager)) == engine(org.manager)


def test_rows_written_past_the_hooks_are_not_hidden_by_the_cache(org, history):
    cache.clear()
    before = shown(page(org.manager))
    clone_cases(
        history, 2, rollups=False
    )  # a raw insert: no event, no version raised, the rollup no longer agrees
    after = shown(page(org.manager))
    assert after["total"] == before["total"] + 2
    assert after == engine(org.manager)


def _counted_weeks(monkeypatch) -> list[tuple[dt.date, dt.date]]:
    """The ranges of days the page counts over the live table (each call of a weekly figure's pass)."""
    ranges: list[tuple[dt.date, dt.date]] = []
    real = weekly.summed

    def spy(name, date_from, date_to, compute, combine, **kw):
        def counted(first, last):
            ranges.append((first, last))
            return compute(first, last)

        return real(name, date_from, date_to, counted, combine, **kw)

    monkeypatch.setattr(weekly, "summed", spy)
    return ranges


def test_after_a_case_event_only_that_cases_week_is_counted_again(
    org, history, monkeypatch, django_capture_on_commit_callbacks
):
    """The live-table figures (flags, KPI counts, follow-ups, heat map) are kept per week of receipt: an
    event on a case counts again the week the case was received in, and the page equals the engine's
    figures over the whole period (and the live tables') after events in several weeks."""
    cache.clear()
    ranges = _counted_weeks(monkeypatch)
    first = shown(page(org.manager))
    assert ranges  # the first view counts the whole period
    week_of = {}
    for case in Case.objects.order_by("received_at"):
        day = case.received_at.astimezone(SHANGHAI).date()
        week_of[case.pk] = (
            day - dt.timedelta(days=day.weekday()),
            day - dt.timedelta(days=day.weekday() - 6),
        )
    assert shown(page(org.manager)) == first
    for case in Case.objects.filter(status="registered").order_by("received_at"):
        ranges.clear()
        with django_capture_on_commit_callbacks(execute=True):
            perform(case, "mark_invalid", org.intake, reason="not_specific")
        after = shown(page(org.manager))
        monday, sunday = week_of[case.pk]
        assert ranges, case.received_at
        assert all(monday <= a and b <= sunday for a, b in ranges), (case.received_at, ranges)
        assert after == engine(org.manager)
        with live_tables():
            assert shown(page(org.manager)) == after


def test_weekly_parts_equal_one_pass_over_the_period(org, history):
    """The weeks' parts added up are the counts of one pass over the whole period, for any days."""
    today = timezone.now().astimezone(SHANGHAI).date()
    for days in (1, 6, 7, 30, 200, 400):
        f = StatFilters(date_from=today - dt.timedelta(days=days), date_to=today)
        whole = (kpis.headline_with_flags(f, user=org.manager), selectors.heatmap(f, user=org.manager))
        with rollups.report_scope(), weekly.scope(("test", days)):
            cold = (kpis.headline_with_flags(f, user=org.manager), selectors.heatmap(f, user=org.manager))
            warm = (kpis.headline_with_flags(f, user=org.manager), selectors.heatmap(f, user=org.manager))
        assert cold == whole == warm, days
