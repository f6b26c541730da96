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


def _rollup_reads(monkeypatch) -> list[tuple]:
    """The reads of the daily-count rollup the page makes (each call of `rollups.daily_count_rows`)."""
    reads: list[tuple] = []
    real = rollups.daily_count_rows

    def spy(*args, **kw):
        reads.append(args)
        return real(*args, **kw)

    monkeypatch.setattr(rollups, "daily_count_rows", spy)
    return reads


def test_the_figures_read_from_the_daily_counts_are_kept_until_an_event_moves_them(
    org, history, monkeypatch, django_capture_on_commit_callbacks
):
    """An event that moves no daily count (a note, a closing) recomputes the live-table figures only; one
    that moves them (a registration, a case accepted under another category) renews the rollup's figures
    too, and the page equals the engine's figures after each."""
    cache.clear()
    reads = _rollup_reads(monkeypatch)
    first = shown(page(org.manager))
    assert reads  # the first view reads the trends, the Pareto chart, the regions … from the rollup
    open_case = Case.objects.filter(status="registered").order_by("-pk").first()

    reads.clear()
    with django_capture_on_commit_callbacks(execute=True):
        perform(open_case, "add_note", org.supervisor, text="已联系客户")
    again = shown(page(org.manager))
    assert not reads  # nothing the rollup holds moved: its figures from the cache
    assert again == first == engine(org.manager)

    with django_capture_on_commit_callbacks(execute=True):
        perform(open_case, "accept", org.intake, category="service.attitude")
    reads.clear()
    after = shown(page(org.manager))
    assert reads  # the case is counted under another category: the rollup's figures read again
    assert after["stacked"] != first["stacked"]
    assert after == engine(org.manager)

    reads.clear()
    with django_capture_on_commit_callbacks(execute=True):
        factories.make_case(org.intake)
    after = shown(page(org.manager))
    assert reads and after["total"] == first["total"] + 1
    assert after == engine(org.manager)


def test_the_page_equals_a_computation_from_scratch_after_events_of_every_kind(
    org, history, django_capture_on_commit_callbacks
):
    """A series of events of each kind (registration, acceptance under another category, assignment, note,
    escalation one at a time and as a set, closing, follow-up, reopening, invalidation, special closing):
    after each, the page (its parts from the caches) shows exactly the figures computed from scratch,
    over the rollups and over the live tables."""
    from kesu.cases.services import perform_many

    now = timezone.now()
    escalation = {
        "stage": "answer",
        "ref": "",
        "step": 1,
        "role": "supervisor",
        "notified": [],
        "due_at": "x",
    }
    cache.clear()
    page(org.manager)
    state: dict = {}

    def check(label: str) -> None:
        ctx = shown(page(org.manager))
        assert ctx == engine(org.manager), label
        cache.clear()
        assert shown(page(org.manager)) == ctx, label  # computed from scratch
        with live_tables():
            assert shown(page(org.manager)) == ctx, label

    def step(label: str, fn) -> None:
        with django_capture_on_commit_callbacks(execute=True):
            fn()
        check(label)

    step("register", lambda: state.update(case=register(org, now - dt.timedelta(days=2))))
    case = state["case"]
    step("accept", lambda: perform(case, "accept", org.intake, category="service.attitude"))
    step(
        "assign",
        lambda: perform(case, "assign", org.intake, department="QUALITY", handler=org.handler.pk),
    )
    step("note", lambda: perform(case, "add_note", org.handler, text="已联系客户"))
    step("escalate", lambda: perform(case, "escalate", None, **escalation))
    other = register(org, now - dt.timedelta(days=30))
    step(
        "escalate many",
        lambda: perform_many("escalate", [(case.pk, escalation), (other.pk, escalation)], None),
    )
    step("close", lambda: state.update(closed=close(org, register(org, now - dt.timedelta(days=12)), now)))
    step("reopen", lambda: perform(state["closed"], "reopen", org.supervisor, reason="客户不满意"))

    def close_again() -> None:
        again = state["closed"]
        perform(again, "propose_remedy", org.handler, remedy_type="explanation", description="再次说明")
        perform(again, "reply", org.handler, text="已再次向客户说明")
        perform(again, "close", org.handler, criterion="accepted")
        again.refresh_from_db()

    step("close again", close_again)
    step("follow up", lambda: follow_up(org, state["closed"], now + dt.timedelta(days=6), 5))
    step("invalid", lambda: perform(other, "mark_invalid", org.intake, reason="not_specific"))
    step("special closing", lambda: special_close(org, register(org, now - dt.timedelta(days=5)), now))
