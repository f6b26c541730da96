"""The request's person in one statement (kesu.org.principals): the same objects as the ORM's, the role
codes loaded, nothing cached across requests."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client
from django.utils import timezone

from kesu.org import roles
from kesu.org.models import ApiToken, Staff
from kesu.org.principals import token_with_principal, user_with_principal
from kesu.org.selectors import department_of, staff_of, user_roles
from tests.api.conftest import BASE, Api

pytestmark = pytest.mark.django_db


def _fields(obj) -> dict:
    return {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields}


def test_the_token_comes_with_user_staff_department_and_roles(org, django_assert_num_queries):
    token, key = ApiToken.issue(org.manager, "crm", ["cases:read", "org:*"])
    ApiToken.objects.filter(pk=token.pk).update(
        last_used_at=timezone.now() - dt.timedelta(hours=1), expires_at=timezone.now() + dt.timedelta(days=3)
    )
    with django_assert_num_queries(1):
        found = token_with_principal(ApiToken.hash_key(key))
        user = found.user
        # what the permission checks read: no further query for any of it
        assert staff_of(user) is not None and department_of(user) is not None
        got_roles = user_roles(user)
    orm = ApiToken.objects.select_related("user__staff__department").get(pk=token.pk)
    assert _fields(found) == _fields(orm) and found.scopes == ["cases:read", "org:*"]
    assert _fields(user) == _fields(orm.user)
    assert _fields(user.staff) == _fields(orm.user.staff)
    assert _fields(user.staff.department) == _fields(orm.user.staff.department)
    fresh = User.objects.get(pk=org.manager.pk)
    assert got_roles == user_roles(fresh) and got_roles
    assert found.is_usable() and user.staff.user is user


def test_an_unknown_hash_is_no_token(org):
    assert token_with_principal(ApiToken.hash_key("ksu_nosuch")) is None


def test_a_user_without_staff_row_or_roles(org, django_assert_num_queries):
    loner = User.objects.create_user("loner", password="kesu-test-pass-1")
    with django_assert_num_queries(1):
        user = user_with_principal(loner.pk)
        assert staff_of(user) is None and department_of(user) is None
        assert user_roles(user) == frozenset()
    assert not Staff.objects.filter(user=loner).exists()


def test_a_superuser_holds_the_admin_role(org):
    boss = User.objects.create_superuser("boss", password="kesu-test-pass-1")
    assert user_roles(user_with_principal(boss.pk)) == frozenset({roles.ADMIN})


def test_malformed_or_unknown_user_ids(org):
    assert user_with_principal("not-a-number") is None
    assert user_with_principal(10**9) is None


def test_a_changed_role_counts_at_the_next_request(org):
    """Nothing is cached across requests: a role taken away is gone for the next API call."""
    api = Api(org.manager)
    before = {r["code"] for r in api.get("/org/me").json()["roles"]}
    assert roles.CS_MANAGER in before
    org.manager.groups.remove(Group.objects.get(name=roles.CS_MANAGER))
    after = {r["code"] for r in api.get("/org/me").json()["roles"]}
    assert after == before - {roles.CS_MANAGER}


def test_the_session_user_comes_with_its_roles_and_an_inactive_user_is_logged_out(org):
    client = Client()
    assert client.login(username="manager", password="kesu-test-pass-1")
    body = client.get(f"{BASE}/org/me").json()
    assert body["auth"] == "session" and roles.CS_MANAGER in {r["code"] for r in body["roles"]}
    assert body["department"]["code"] == org.manager.staff.department.code
    User.objects.filter(pk=org.manager.pk).update(is_active=False)
    assert client.get(f"{BASE}/org/me").status_code == 401
