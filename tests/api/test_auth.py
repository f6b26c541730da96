"""Authentication: bearer tokens (hash only, scopes, revocation, expiry) and the session with CSRF."""

from __future__ import annotations

import datetime as dt

from django.test import Client
from django.utils import timezone

from kesu.cases.models import Case
from kesu.org.models import ApiToken
from tests import factories
from tests.api.conftest import BASE, Api, db_state


def test_only_the_hash_of_a_token_is_stored(org):
    token, key = ApiToken.issue(org.intake, "crm")
    stored = ApiToken.objects.get(pk=token.pk)
    assert key not in (stored.key_hash, stored.prefix) and stored.key_hash == ApiToken.hash_key(key)


def test_revoked_and_expired_tokens_are_refused(org):
    api = Api(org.intake)
    assert api.get("/cases").status_code == 200
    ApiToken.objects.filter(pk=api.token.pk).update(revoked=True)
    r = api.get("/cases")
    assert r.status_code == 401 and r.json()["code"] == "not_authenticated"
    expired = Api(org.intake)
    ApiToken.objects.filter(pk=expired.token.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert expired.get("/cases").status_code == 401
    org.intake.is_active = False
    org.intake.save()
    assert Api(org.intake).get("/cases").status_code == 401


def test_scopes_limit_what_a_token_may_do(org):
    reader = Api(org.intake, scopes=["cases:read"])
    assert reader.get("/cases").status_code == 200
    before = db_state()
    r = reader.post("/cases", factories.complaint_data())
    assert r.status_code == 403 and r.json()["code"] == "insufficient_scope"
    assert r.json()["details"] == {"required_scope": "cases:write"}
    assert reader.get("/policy").status_code == 403
    assert db_state() == before
    writer = Api(org.intake, scopes=["cases:write", "policy:read"])
    assert writer.post("/cases", factories.complaint_data()).status_code == 201
    assert writer.get("/cases").status_code == 200
    assert writer.get("/policy").status_code == 200


def test_session_login_works_and_needs_csrf_for_writes(org):
    client = Client(enforce_csrf_checks=True)
    assert client.login(username="intake", password="kesu-test-pass-1")
    r = client.get(f"{BASE}/org/me")
    assert r.status_code == 200 and r.json()["auth"] == "session"
    data = factories.complaint_data()
    before = db_state()
    r = client.post(f"{BASE}/cases", data, content_type="application/json")
    assert r.status_code == 403 and r.json()["code"] == "csrf_failed"
    assert db_state() == before
    from django.middleware.csrf import _get_new_csrf_string, _mask_cipher_secret

    secret = _get_new_csrf_string()
    client.cookies["csrftoken"] = secret
    r = client.post(
        f"{BASE}/cases",
        data,
        content_type="application/json",
        headers={"X-CSRFToken": _mask_cipher_secret(secret)},
    )
    assert r.status_code == 201, r.content.decode()
    assert Case.objects.count() == before["cases"] + 1
