"""The table of the shared database cache (kesu.trust.cache, settings.CACHES).

Created here rather than by `createcachetable` so that `kesu migrate`, `make migrate` and the test
database all have it. Django's own `createcachetable` builds it (same columns and index); it does
nothing when the table exists.
"""

import io

from django.core.management.commands.createcachetable import Command as CreateCacheTable
from django.db import migrations

CACHE_TABLE = "kesu_cache"  # kesu.trust.cache.CACHE_TABLE at the time of this migration


def create_cache_table(apps, schema_editor):
    command = CreateCacheTable(stdout=io.StringIO())
    command.verbosity = 0
    command.create_table(schema_editor.connection.alias, CACHE_TABLE, dry_run=False)


def drop_cache_table(apps, schema_editor):
    schema_editor.execute(f"DROP TABLE IF EXISTS {schema_editor.quote_name(CACHE_TABLE)}")


class Migration(migrations.Migration):
    dependencies = [("trust", "0001_initial")]

    operations = [migrations.RunPython(create_cache_table, drop_cache_table, elidable=False)]
