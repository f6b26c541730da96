"""API tokens created in the admin (组织 → API 令牌, the README's documented way): the key is shown
once, only its hash is stored, and it authenticates against the API."""

from __future__ import annotations

import re

import pytest
from django.contrib.messages import get_messages

from kesu.org.models import ApiToken

pytestmark = pytest.mark.django_db

ADD_URL = "/admin/org/apitoken/add/"


def _admin_client(client, org):
    org.admin.is_staff = org.admin.is_superuser = True
    org.admin.save()
    client.force_login(org.admin)
    return client


def _create(client, org, name: str) -> tuple[ApiToken, str]:
    r = client.post(
        ADD_URL,
        {
            "user": org.admin.pk,
            "name": name,
            "scopes": '["cases:read"]',
            "expires_at_0": "",
            "expires_at_1": "",
        },
    )
    assert r.status_code == 302, r.content.decode()[:2000]
    shown = [str(m) for m in get_messages(r.wsgi_request) if f"「{name}」" in str(m)]
    keys = [k for m in shown for k in re.findall(r"ksu_[A-Za-z0-9_\-]+", m)]
    assert len(keys) == 1, shown
    return ApiToken.objects.get(name=name), keys[0]


def test_admin_shows_the_key_once_and_stores_only_its_hash(client, org):
    c = _admin_client(client, org)
    token, key = _create(c, org, "CRM 集成")
    assert token.key_hash == ApiToken.hash_key(key) and token.prefix == key[4:12]
    assert key not in {token.name, token.prefix, token.key_hash}
    # A second token is a second, distinct key (not a 500 on the unique hash).
    other, other_key = _create(c, org, "报表脚本")
    assert other_key != key and other.key_hash != token.key_hash
    # The key works against the API with the scopes chosen in the form.
    api = client.__class__()
    ok = api.get("/api/v1/cases", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert ok.status_code == 200, ok.content[:300]
    # Shown on the page the admin lands on after saving, then never again; editing keeps the hash.
    assert key in c.get("/admin/org/apitoken/").content.decode()
    assert key not in c.get("/admin/org/apitoken/").content.decode()
    assert key not in c.get(f"/admin/org/apitoken/{token.pk}/change/").content.decode()
    r = c.post(
        f"/admin/org/apitoken/{token.pk}/change/",
        {"user": org.admin.pk, "name": "CRM 集成（新）", "scopes": '["cases:read"]', "revoked": ""},
    )
    assert r.status_code == 302, r.content.decode()[:2000]
    token.refresh_from_db()
    assert token.name == "CRM 集成（新）" and token.key_hash == ApiToken.hash_key(key)
    assert not [m for m in get_messages(r.wsgi_request) if key in str(m) or "「CRM 集成（新）」" in str(m)]
