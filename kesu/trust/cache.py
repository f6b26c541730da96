"""The shared cache: Django's database cache, with an increment that holds under concurrent workers.

Rate limits (kesu.trust.ratelimit) and the board's cached counts must be the same for every gunicorn
worker, the task worker and the scheduler, so the default cache lives in the database they share
(settings.CACHES; the table `kesu_cache` is created by the migration trust/0002). Django's
`DatabaseCache.incr` is a read followed by a write: two workers counting the same client at the same
moment would both write n + 1 and let requests past the limit. Here the read and the write happen in
one transaction that holds the row (SELECT … FOR UPDATE on PostgreSQL; on SQLite the transaction
begins IMMEDIATE, see settings.DATABASES, which serialises writers).

Django's database cache also counts the whole table (`SELECT COUNT(*)`) before every write, to cull
it above MAX_ENTRIES: with the table near its 20,000 entries that scan was most of a rate-limited
request's cost (the portal's submissions and status checks, the inbound webhooks count one or two
writes each). Here each process counts on its first write and then on every `CULL_EVERY`-th one; the
other writes skip the count, so the table may pass MAX_ENTRIES by at most that many entries per
process before the next count culls it.
"""

from __future__ import annotations

import itertools
import threading

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.db import DatabaseCache
from django.db import connections, router, transaction

CACHE_TABLE = "kesu_cache"
# Count the table (and cull it when above MAX_ENTRIES) on one write in this many, per process.
CULL_EVERY = 100


class SharedDatabaseCache(DatabaseCache):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._writes = itertools.count()
        self._writes_lock = threading.Lock()

    def _count_due(self) -> bool:
        with self._writes_lock:
            return next(self._writes) % CULL_EVERY == 0

    def _base_set(self, mode, key, value, timeout=DEFAULT_TIMEOUT):
        if self._count_due():
            return super()._base_set(mode, key, value, timeout)
        # Django's write (kept whole: its expiry, pickling and add/set/touch semantics) with its
        # table count answered by a constant 0 below MAX_ENTRIES: nothing to cull on this write.
        connection = connections[router.db_for_write(self.cache_model_class)]
        count_sql = f"SELECT COUNT(*) FROM {connection.ops.quote_name(self._table)}"

        def skip_count(execute, sql, params, many, context):
            return execute("SELECT 0" if sql == count_sql else sql, params, many, context)

        # Outermost, so that any other wrapper (a query counter) sees what reaches the database.
        connection.execute_wrappers.insert(0, skip_count)
        try:
            return super()._base_set(mode, key, value, timeout)
        finally:
            connection.execute_wrappers.remove(skip_count)

    def incr(self, key, delta: int = 1, version=None) -> int:
        db = router.db_for_write(self.cache_model_class)
        connection = connections[db]
        with transaction.atomic(using=db):
            if connection.features.has_select_for_update:
                quote = connection.ops.quote_name
                with connection.cursor() as cursor:
                    cursor.execute(
                        f"SELECT {quote('cache_key')} FROM {quote(self._table)} "
                        f"WHERE {quote('cache_key')} = %s FOR UPDATE",
                        [self.make_and_validate_key(key, version=version)],
                    )
            # BaseCache.incr: get (ValueError when missing or expired), then set the new value.
            return super().incr(key, delta, version)
