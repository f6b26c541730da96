"""The statements code sends to the database, read with an execute wrapper (the test client's
request_started signal empties the query log that CaptureQueriesContext reads)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.db import connection


@contextmanager
def recorded() -> Iterator[list[str]]:
    """`with recorded() as sql:` — `sql` holds every statement sent inside the block, in order."""
    sql: list[str] = []

    def record(execute, statement, params, many, context):
        sql.append(statement)
        return execute(statement, params, many, context)

    with connection.execute_wrapper(record):
        yield sql


def statements(fn: Callable[[], Any]) -> list[str]:
    """The statements one call of `fn` sends."""
    with recorded() as sql:
        fn()
    return sql
