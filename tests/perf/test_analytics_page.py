"""The manager's analytics page reads the same number of statements among 20 or 200 cases: computed
(cache emptied), from the cache, and over the live tables (the rollup switched off); from the cache it
reads fewer than computing it."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from kesu.analytics.rollups import live_tables
from tests.perf.test_query_counts import SIZES, by_size, queries, session, world  # noqa: F401

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
