"""Authentication: password policy, lockout, session idle timeout, TOTP, API token scopes and expiry."""

from __future__ import annotations

import datetime as dt
import time

import pyotp
import pytest
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.utils import timezone

from kesu.org.models import ApiToken
from kesu.trust import audit
from kesu.trust.models import AuditEntry, TotpDevice
from kesu.trust.security import SESSION_ACTIVITY_KEY, confirm_totp, start_totp_enrolment

PASSWORD = "kesu-test-pass-1"


def _login(client, username, password, ip="10.0.0.1", **extra):
    return client.post(
        "/login/", {"username": username, "password": password, **extra}, REMOTE_ADDR=ip, follow=False
    )


def _logged_in(client) -> bool:
    return "_auth_user_id" in client.session


@pytest.mark.parametrize(
    "password,ok",
    [
        ("Short1!", False),  # too short
        ("alllowercaseletters", False),  # one class
        ("lowercase123456", False),  # two classes
        ("Lowercase123456", True),
        ("kesu-test-pass-1", True),
        ("投诉处理Abc12345", True),
    ],
)
def test_password_policy(db, password, ok):
    if ok:
        validate_password(password)
    else:
        with pytest.raises(ValidationError) as exc:
            validate_password(password)
        assert any("密码" in m for m in exc.value.messages)


def test_login_logout_and_failures_are_audited(org, client):
    assert _login(client, "handler", "wrong-password").status_code == 200
    assert not _logged_in(client)
    assert _login(client, "handler", PASSWORD).status_code == 302
    assert _logged_in(client)
    client.post("/logout/")
    actions = list(AuditEntry.objects.filter(target_id="handler").values_list("action", flat=True))
    assert actions[-3:] == ["auth.login_failed", "auth.login", "auth.logout"]
    failed = AuditEntry.objects.filter(action="auth.login_failed").last()
    assert failed.ip == "10.0.0.1"


def test_lockout_after_five_failures_per_user(org, client):
    for i in range(5):
        _login(client, "handler", f"wrong-{i}", ip=f"10.0.1.{i}")
    response = _login(client, "handler", PASSWORD, ip="10.0.2.1")
    assert not _logged_in(client)
    assert "已暂时锁定" in response.content.decode()
    actions = list(AuditEntry.objects.values_list("action", flat=True))
    assert actions.count("auth.lockout") == 1
    assert actions[-1] == "auth.login_blocked"
    # Other people are not affected.
    assert _login(client, "handler2", PASSWORD, ip="10.0.2.2").status_code == 302


def test_lockout_per_ip_and_expiry(org, client, settings):
    for i in range(5):
        _login(client, f"nobody{i}", "wrong", ip="10.9.9.9")
    response = _login(client, "handler", PASSWORD, ip="10.9.9.9")
    assert "该网络地址" in response.content.decode() and not _logged_in(client)
    assert _login(client, "handler", PASSWORD, ip="10.9.9.8").status_code == 302
    # After the window has passed the address may try again.
    from kesu.trust.models import LoginAttempt

    LoginAttempt.objects.update(at=timezone.now() - dt.timedelta(minutes=16))
    client.logout()
    assert _login(client, "handler", PASSWORD, ip="10.9.9.9").status_code == 302


def test_idle_session_times_out(org, client, settings):
    settings.KESU_SESSION_IDLE_SECONDS = 1800
    client.force_login(org.supervisor)
    assert client.get("/").status_code == 200
    session = client.session
    session[SESSION_ACTIVITY_KEY] = int(time.time()) - 1801
    session.save()
    response = client.get("/")
    assert response.status_code == 302 and "/login/" in response["Location"]
    assert AuditEntry.objects.filter(action="auth.session_timeout", actor_name="supervisor").exists()


def test_active_session_stays(org, client):
    client.force_login(org.supervisor)
    client.get("/")
    session = client.session
    session[SESSION_ACTIVITY_KEY] = int(time.time()) - 600
    session.save()
    assert client.get("/").status_code == 200


def test_totp_enrolment_and_login(org, client):
    admin = org.admin
    device, uri = start_totp_enrolment(admin)
    assert uri.startswith("otpauth://totp/")
    totp = pyotp.TOTP(device.secret)
    # not confirmed yet: password alone still works
    assert _login(client, "admin", PASSWORD).status_code == 302
    client.logout()
    assert confirm_totp(admin, totp.now())
    assert TotpDevice.objects.get(user=admin).confirmed
    # confirmed: the password alone is refused with a clear message
    response = _login(client, "admin", PASSWORD)
    assert "动态口令" in response.content.decode() and not _logged_in(client)
    # a code of the next step (the one just used for confirming is spent)
    code = totp.at(time.time() + totp.interval)
    assert _login(client, "admin", PASSWORD, otp=code).status_code == 302
    client.logout()
    # the same code again is a replay
    response = _login(client, "admin", PASSWORD, otp=code)
    assert not _logged_in(client) and "动态口令" in response.content.decode()


def _bearer(key):
    return {"HTTP_AUTHORIZATION": f"Bearer {key}"}


def test_idle_session_times_out_behind_a_refused_bearer_token(org, client, settings):
    """A bearer call skips the session only when it carries no session cookie: with the cookie of an idle
    session and a refused token (the API then falls back to the session) the session still times out."""
    settings.KESU_SESSION_IDLE_SECONDS = 1800
    client.force_login(org.supervisor)
    session = client.session
    session[SESSION_ACTIVITY_KEY] = int(time.time()) - 1801
    session.save()
    response = client.get("/api/v1/org/me", **_bearer("ksu_not-a-token"))
    assert response.status_code == 401
    assert not _logged_in(client)
    assert AuditEntry.objects.filter(action="auth.session_timeout", actor_name="supervisor").exists()


def test_api_token_scope_and_expiry_enforced(org, client):
    _, read_key = ApiToken.issue(org.supervisor, "reader", scopes=["cases:read"])
    assert client.get("/api/v1/cases", **_bearer(read_key)).status_code == 200
    r = client.post("/api/v1/cases", data={}, content_type="application/json", **_bearer(read_key))
    assert r.status_code == 403 and r.json()["code"] == "insufficient_scope"
    assert client.get("/api/v1/policy/channels", **_bearer(read_key)).status_code == 403
    _, old_key = ApiToken.issue(
        org.supervisor, "old", scopes=["*"], expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    assert client.get("/api/v1/cases", **_bearer(old_key)).status_code == 401
    token, key = ApiToken.issue(org.supervisor, "revoked", scopes=["*"])
    token.revoked = True
    token.save()
    assert client.get("/api/v1/cases", **_bearer(key)).status_code == 401


def test_audit_chain_intact_after_auth_traffic(org, client):
    _login(client, "handler", "bad")
    _login(client, "handler", PASSWORD)
    assert audit.verify().ok
