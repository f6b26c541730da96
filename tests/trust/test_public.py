"""Public endpoints: security headers, production settings pass `check --deploy`, inbound rate limit."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.cache import cache

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("path", ["/login/", "/portal/", "/api/v1/openapi.json"])
def test_security_headers(client, db, path):
    r = client.get(path)
    assert r.status_code == 200
    assert r["X-Frame-Options"] == "DENY"
    assert r["X-Content-Type-Options"] == "nosniff"
    assert r["Referrer-Policy"] == "same-origin"
    csp = r["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp
    if not path.startswith("/api/"):
        assert "object-src 'none'" in csp and "default-src 'self'" in csp
    if path.startswith("/api/"):
        assert csp.startswith("default-src 'none'") and r["Cache-Control"] == "no-store"


def test_session_and_csrf_cookies_are_http_only_and_same_site(client, db):
    r = client.get("/login/")
    assert r.cookies["csrftoken"]["samesite"] == "Lax"


def test_production_settings_pass_check_deploy():
    env = {**os.environ, "KESU_SECRET_KEY": "x" * 20 + "-production-test-key-0123456789abcdefghij"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    r = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "kesu.settings_production"},
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "no issues" in r.stdout


def test_production_settings_refuse_a_missing_secret_key():
    env = {k: v for k, v in os.environ.items() if k != "KESU_SECRET_KEY"}
    r = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "kesu.settings_production"},
        capture_output=True,
        text=True,
    )
    assert r.returncode != 0 and "KESU_SECRET_KEY" in r.stderr


def test_inbound_webhook_is_rate_limited_per_ip(client, db, settings):
    cache.clear()
    settings.KESU_INBOUND_RATE_LIMIT = (3, 60)
    codes = [
        client.post(
            "/api/v1/intake/webhook/nope", data=b"{}", content_type="application/json", REMOTE_ADDR="10.7.7.7"
        ).status_code
        for _ in range(4)
    ]
    assert codes[:3] != [429] * 3 and codes[3] == 429
    # another address is not affected
    other = client.post(
        "/api/v1/intake/webhook/nope", data=b"{}", content_type="application/json", REMOTE_ADDR="10.7.7.8"
    )
    assert other.status_code != 429
    cache.clear()
