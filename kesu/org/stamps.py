"""Stamp rows: one row (id 1) holding a random token that every write of some tables changes, so each
process can keep what it derived from those tables until the token it reads differs.

Used by the organisation (`org.OrgStamp`: departments, staff, users, role groups) and by the taxonomy
(`policy.TaxonomyStamp`: categories and channels). A model here is any model with an integer `token`.
"""

from __future__ import annotations

import secrets

from django.db import connection, models


def stamp_sql(model: type[models.Model]) -> str:
    """The scalar subquery of the stamp's token, for a caller that folds it into its own raw read."""
    table = connection.ops.quote_name(model._meta.db_table)
    return f"(SELECT token FROM {table} WHERE id = 1)"


def read_token(model: type[models.Model]) -> int | None:
    """The stamp's current token: one primary-key read of one integer (None without the row)."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {stamp_sql(model)}")
        row = cursor.fetchone()
    return row[0] if row else None


def bump(model: type[models.Model]) -> None:
    """A new token: every process's derived copies are stale. Inside the writer's transaction, so other
    processes see the new token with the new rows."""
    token = secrets.randbits(62)
    if not model.objects.filter(pk=1).update(token=token):
        model.objects.update_or_create(pk=1, defaults={"token": token})
