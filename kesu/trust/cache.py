"""The shared cache: Django's database cache, with an increment that holds under concurrent workers.

Rate limits (kesu.trust.ratelimit) and the board's cached counts must be the same for every gunicorn
worker, the task worker and the scheduler, so the default cache lives in the database they share
(settings.CACHES; the table `kesu_cache` is created by the migration trust/0002). Django's
`DatabaseCache.incr` is a read followed by a write: two workers counting the same client at the same
moment would both write n + 1 and let requests past the limit. Here the read and the write happen in
one transaction that holds the row (SELECT … FOR UPDATE on PostgreSQL; on SQLite the transaction
begins IMMEDIATE, see settings.DATABASES, which serialises writers).
"""

from __future__ import annotations

from django.core.cache.backends.db import DatabaseCache
from django.db import connections, router, transaction

CACHE_TABLE = "kesu_cache"


class SharedDatabaseCache(DatabaseCache):
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
