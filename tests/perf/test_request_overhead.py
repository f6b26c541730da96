"""What every request pays before its own work: the person behind it is one statement.

A bearer-token API call used to read the token with its user, staff row and department, then the
user's groups; a session request the session, the user, the staff row, the groups and the department
one query each. Now the token (or the session's user) comes with the staff row, the department and the
role codes in one statement (kesu.org.principals), at any number of people, tokens and roles.
"""

from __future__ import annotations

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client

from kesu.org import roles
from kesu.org.models import ApiToken
from tests import factories
from tests.api.conftest import BASE
from tests.perf.test_query_counts import Counted

pytestmark = pytest.mark.django_db

SIZES = (5, 60)


def _people(org, n: int) -> None:
    """About `n` more people with tokens, in the manager's department, some with several roles."""
    have = ApiToken.objects.count()
    for i in range(have, n):
        user = factories.person(f"p{i}", org.service, roles.HANDLER, *([roles.SUPERVISOR] if i % 2 else []))
        ApiToken.issue(user, "perf", ["*"])


def _sql(fn) -> list[str]:
    fn()  # warm: per-process caches, the token's last_used_at, the session's activity stamp
    counted = Counted()
    with connection.execute_wrapper(counted):
        fn()
    return counted.sql


def test_a_bearer_request_reads_its_person_in_one_statement(org):
    # the analyst: head office (no parent department), no supervisor: `me` itself reads nothing more
    _token, key = ApiToken.issue(org.analyst, "perf", ["*"])
    client = Client()

    def me():
        response = client.get(f"{BASE}/org/me", headers={"Authorization": f"Bearer {key}"})
        assert response.status_code == 200 and response.json()["roles"]

    seen = {}
    for n in SIZES:
        _people(org, n)
        seen[n] = _sql(me)
    # the person: token, user, staff row, department and role codes
    assert {n: len(sql) for n, sql in seen.items()} == {n: 1 for n in SIZES}, seen
    assert not any("auth_user_groups" in sql and "json" not in sql.lower() for sql in seen[SIZES[-1]])


def test_a_bearer_request_without_a_cookie_leaves_the_session_alone(org):
    """No session cookie, no session work: the idle-timeout check used to evaluate the lazy user and the
    session store for every bearer-token call, which also marked the answer `Vary: Cookie`."""
    _token, key = ApiToken.issue(org.analyst, "perf", ["*"])
    response = Client().get(f"{BASE}/org/me", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200
    assert "Cookie" not in response.get("Vary", ""), response.get("Vary")
    assert response.wsgi_request.session.accessed is False


def test_a_session_request_reads_session_and_person_only(org):
    client = Client()
    assert client.login(username="analyst", password="kesu-test-pass-1")

    def me():
        response = client.get(f"{BASE}/org/me")
        assert response.status_code == 200 and response.json()["auth"] == "session"

    seen = {}
    for n in SIZES:
        _people(org, n)
        seen[n] = _sql(me)
    # the session, then the person: user, staff row, department and role codes
    assert {n: len(sql) for n, sql in seen.items()} == {n: 2 for n in SIZES}, seen


def test_sqlite_keeps_its_connections_between_requests():
    """Opening a SQLite connection per request (the PRAGMAs, Django's functions, the close) cost each
    request about a millisecond of CPU; connections now live as on PostgreSQL."""
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3":
        pytest.skip("SQLite only")
    assert settings.DATABASES["default"]["CONN_MAX_AGE"] > 0
