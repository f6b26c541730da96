"""PostgreSQL: the statements a registration sends again and again are prepared on the connection (issue
19, createpg22): the server parses and plans them once instead of on every create, and the client sends
the values beside the statement instead of quoting them into its text. kesu/settings.py turns it on
(`server_side_binding`, `prepare_threshold`); KESU_DB_PREPARED=0 turns it off behind a pooler that
cannot keep them."""

from __future__ import annotations

import pytest
from django.db import connection

from tests import factories

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="prepared statements are PostgreSQL's"),
]


def _prepared() -> list[str]:
    with connection.cursor() as cur:
        cur.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cur.fetchall()]


def test_a_registration_sent_again_runs_prepared_statements(org):
    for _ in range(3):
        factories.make_case(org.intake)
    prepared = _prepared()
    assert any('INSERT INTO "cases_case"' in s for s in prepared), prepared
    assert any('INSERT INTO "cases_caseevent"' in s for s in prepared), prepared


def test_the_values_travel_beside_the_statement_not_inside_it(org):
    # Server-side binding: the prepared statement's text holds placeholders ($1 …), never a complaint's
    # value, so one prepared statement serves every registration.
    for n in range(3):
        factories.make_case(org.intake, description=f"预备语句测试的投诉描述第{n}次，客户要求尽快处理。")
    inserts = [s for s in _prepared() if 'INSERT INTO "cases_case"' in s]
    assert inserts and all("预备语句测试" not in s and "$1" in s for s in inserts), inserts
