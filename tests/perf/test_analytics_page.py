"""The manager's analytics page reads the same number of statements among 20 or 200 cases: computed
(cache emptied), from the cache, over the live tables (the rollup switched off), and recomputed after a
case event (the weekly parts of the other weeks from the cache, the figures read from the daily counts
from the cache when the event moved none); from the cache it reads fewer than computing it."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from kesu.analytics import weekly
from kesu.analytics.rollups import live_tables
from kesu.cases.services import perform
from tests.perf.test_query_counts import SIZES, by_size, queries, session, world  # noqa: F401
from tests.sql import statements

pytestmark = pytest.mark.django_db


def test_analytics_page_query_counts(org, world):  # noqa: F811
    client = session(org.manager)

    def get():
        r = client.get("/analytics/")
        assert r.status_code == 200

    def computed():
        get()
        cache.clear()
        return queries(get, warm=False)

    def live():
        with live_tables():
            return computed()

    counts = by_size(world, lambda: (computed(), queries(get), live()))
    assert counts[SIZES[0]] == counts[SIZES[1]], counts
    fresh, from_cache, _live = counts[SIZES[1]]
    assert from_cache < fresh, counts


def test_analytics_page_after_a_case_event_query_counts(
    org,
    world,  # noqa: F811
    monkeypatch,
    django_capture_on_commit_callbacks,
):
    """After a note on one open case the page is recomputed with the same statements at both sizes, its
    live-table passes count that case's week only (not the days of the whole year), and the figures
    read from the daily counts, which a note does not move, are not read again."""
    client = session(org.manager)
    counted: list[tuple] = []
    real = weekly.summed

    def spy(name, date_from, date_to, compute, combine, **kw):
        def part(first, last):
            counted.append((first, last))
            return compute(first, last)

        return real(name, date_from, date_to, part, combine, **kw)

    monkeypatch.setattr(weekly, "summed", spy)

    def get():
        r = client.get("/analytics/")
        assert r.status_code == 200

    def after_event():
        get()
        case = world.templates["open"]
        with django_capture_on_commit_callbacks(execute=True):
            perform(case, "add_note", org.handler, text="已联系客户")
        counted.clear()
        sql = statements(get)
        assert counted and all((last - first).days <= 6 for first, last in counted), counted
        # (the rollup's consistency check for the weekly parts, a sum over the days, is still made)
        assert not [s for s in sql if "analytics_dailycasecount" in s and "GROUP BY" in s], sql
        return len(sql)

    counts = by_size(world, after_event)
    assert counts[SIZES[0]] == counts[SIZES[1]], counts
