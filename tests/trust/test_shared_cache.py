"""The shared cache (kesu.trust.cache): Django's database cache as the default, its table from a migration,
and an increment whose read and write cannot interleave with another worker's."""

from __future__ import annotations

import importlib

import pytest
from django.core.cache import cache, caches
from django.core.cache.backends.db import DatabaseCache
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from kesu.trust.cache import CACHE_TABLE, SharedDatabaseCache
from kesu.trust.ratelimit import hit
from tests.sql import recorded

shared_cache_migration = importlib.import_module("kesu.trust.migrations.0002_shared_cache")


def test_the_default_cache_is_the_shared_database_cache():
    default = caches["default"]
    assert isinstance(default, SharedDatabaseCache) and isinstance(default, DatabaseCache)
    assert default._table == CACHE_TABLE == shared_cache_migration.CACHE_TABLE


@pytest.mark.django_db(transaction=True)
def test_the_migration_creates_and_drops_the_cache_table():
    with connection.schema_editor() as editor:
        shared_cache_migration.drop_cache_table(None, editor)
    assert CACHE_TABLE not in connection.introspection.table_names()
    with connection.schema_editor() as editor:
        shared_cache_migration.create_cache_table(None, editor)
    assert CACHE_TABLE in connection.introspection.table_names()
    cache.set("kesu:test", 1, 60)
    assert cache.get("kesu:test") == 1


@pytest.mark.django_db(transaction=True)
def test_incr_reads_and_writes_in_one_transaction_holding_the_row(monkeypatch):
    cache.set("kesu:test:n", 1, 60)
    seen_in_transaction = []
    original_get = SharedDatabaseCache.get

    def get(self, *args, **kwargs):
        seen_in_transaction.append(transaction.get_connection().in_atomic_block)
        return original_get(self, *args, **kwargs)

    monkeypatch.setattr(SharedDatabaseCache, "get", get)
    with CaptureQueriesContext(connection) as queries:
        assert cache.incr("kesu:test:n") == 2
    # Django's own incr reads outside any transaction: another worker could write in between.
    assert seen_in_transaction == [True]
    if connection.features.has_select_for_update:
        sqls = [q["sql"] for q in queries.captured_queries]
        locked = next(i for i, sql in enumerate(sqls) if sql.rstrip().endswith("FOR UPDATE"))
        written = next(i for i, sql in enumerate(sqls) if sql.startswith("UPDATE"))
        assert locked < written, sqls
    assert cache.get("kesu:test:n") == 2
    with pytest.raises(ValueError):
        cache.incr("kesu:test:missing")


@pytest.mark.django_db(transaction=True)
def test_a_rate_limit_counts_in_the_shared_cache():
    assert [hit("test", "1.2.3.4", limit=3, window=60) for _ in range(5)] == [True, True, True, False, False]
    assert hit("test", "5.6.7.8", limit=3, window=60)


@pytest.mark.django_db(transaction=True)
def test_writes_count_the_table_only_now_and_then_and_still_cull(monkeypatch):
    """Django counts the whole table before every write; here one write in CULL_EVERY per process does,
    and the table is still culled back under MAX_ENTRIES when it does."""
    from kesu.trust import cache as shared

    monkeypatch.setattr(shared, "CULL_EVERY", 10)
    small = SharedDatabaseCache(CACHE_TABLE, {"OPTIONS": {"MAX_ENTRIES": 20, "CULL_FREQUENCY": 2}})
    small.clear()
    with recorded() as sent:  # what reaches the database
        for i in range(40):
            small.set(f"kesu:test:cull:{i}", i, 60)
    assert sum(1 for sql in sent if sql.startswith("SELECT COUNT(*)")) == 4, sent[:12]
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {CACHE_TABLE}")
        rows = cursor.fetchone()[0]
    # culled at the counted writes (at most CULL_EVERY writes past the limit in between)
    assert rows <= 20 + 10
    # what the skipped counts would have said: the values are written all the same
    assert small.get("kesu:test:cull:39") == 39 and small.add("kesu:test:cull:39", 0, 60) is False
    assert hit("test-scope", "1.2.3.4", limit=1, window=60) and not hit(
        "test-scope", "1.2.3.4", limit=1, window=60
    )
