"""Authentication hardening: password policy, lockout, TOTP for administrators, session idle timeout,
security headers.

- `PasswordComplexityValidator`: at least 10 characters and 3 of 4 character classes (Chinese messages).
- Lockout: `KESU_LOCKOUT_FAILURES` (5) failed logins within `KESU_LOCKOUT_WINDOW` (15 min) for one user
  name, or `KESU_LOCKOUT_IP_FAILURES` (5) from one IP, block further attempts until the window has
  passed. Enforced in the authentication backend (`LockoutModelBackend`), so the web login, the admin
  login and anything calling `authenticate()` obey it; every failure, lockout and blocked attempt is
  in the audit log.
- TOTP (`pyotp`): optional for anybody, recommended for administrators; once confirmed, the login
  needs the 6-digit code as well (`otp`). A code is accepted once (replay refused).
- `TrustMiddleware`: idle session timeout (`KESU_SESSION_IDLE_SECONDS`, 30 min), the current request
  for audit hooks, and the security headers (CSP, nosniff, Referrer-Policy, X-Frame-Options DENY,
  Permissions-Policy, no-store for API answers).
"""

from __future__ import annotations

import datetime as dt
import re
import time
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth import authenticate, get_user_model, logout
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from kesu.errors import Conflict
from kesu.org.principals import user_with_principal
from kesu.trust import audit
from kesu.trust.models import LoginAttempt, TotpDevice

# --- password policy --------------------------------------------------------------------------------


class PasswordComplexityValidator:
    """At least `min_length` characters and `min_classes` of: lower case, upper case, digits, symbols."""

    CLASSES = (
        (re.compile(r"[a-z]"), _("小写字母")),
        (re.compile(r"[A-Z]"), _("大写字母")),
        (re.compile(r"[0-9]"), _("数字")),
        (re.compile(r"[^a-zA-Z0-9]"), _("符号")),
    )

    def __init__(self, min_length: int = 10, min_classes: int = 3) -> None:
        self.min_length = min_length
        self.min_classes = min_classes

    def validate(self, password: str, user: Any = None) -> None:
        errors = []
        if len(password) < self.min_length:
            errors.append(
                ValidationError(
                    gettext("密码太短：至少需要 %(n)d 个字符。") % {"n": self.min_length},
                    code="password_too_short",
                )
            )
        classes = sum(1 for rx, _label in self.CLASSES if rx.search(password))
        if classes < self.min_classes:
            errors.append(
                ValidationError(
                    gettext("密码太简单：须包含小写字母、大写字母、数字、符号中的至少 %(n)d 类。")
                    % {"n": self.min_classes},
                    code="password_too_simple",
                )
            )
        if errors:
            raise ValidationError(errors)

    def get_help_text(self) -> str:
        return gettext("密码至少 %(len)d 个字符，并包含小写字母、大写字母、数字、符号中的至少 %(n)d 类。") % {
            "len": self.min_length,
            "n": self.min_classes,
        }


# --- lockout ----------------------------------------------------------------------------------------


def _limit(name: str, default: int) -> int:
    return int(getattr(settings, name, default))


def lockout_window() -> dt.timedelta:
    return dt.timedelta(seconds=_limit("KESU_LOCKOUT_WINDOW", 15 * 60))


def _ip(request) -> str:
    if request is None:
        return ""
    from kesu.trust.ratelimit import client_ip

    return client_ip(request)[:64]


def _failures(since: dt.datetime, **key: str) -> int:
    # Failures after the last success for the same key count; a success resets the counter.
    last_ok = (
        LoginAttempt.objects.filter(success=True, at__gte=since, **key)
        .order_by("-at")
        .values_list("at", flat=True)
        .first()
    )
    qs = LoginAttempt.objects.filter(success=False, blocked=False, at__gte=last_ok or since, **key)
    return qs.count()


def lockout_reason(username: str, request=None) -> str | None:
    """None, or why the next login attempt for `username` from this request's IP is refused."""
    since = timezone.now() - lockout_window()
    if username and _failures(since, username=username) >= _limit("KESU_LOCKOUT_FAILURES", 5):
        return "username"
    ip = _ip(request)
    if ip and _failures(since, ip=ip) >= _limit("KESU_LOCKOUT_IP_FAILURES", 5):
        return "ip"
    return None


def lockout_message(reason: str) -> str:
    minutes = int(lockout_window().total_seconds() // 60)
    if reason == "ip":
        return gettext("该网络地址登录失败次数过多，已暂时锁定，请 %(m)d 分钟后再试。") % {"m": minutes}
    return gettext("该账号登录失败次数过多，已暂时锁定，请 %(m)d 分钟后再试或联系系统管理员。") % {
        "m": minutes
    }


def note_login_failure(username: str, request) -> None:
    """Count a failed login (called from Django's `user_login_failed` signal)."""
    blocked = bool(getattr(request, "_kesu_blocked", False)) if request is not None else False
    reason_before = None if blocked else lockout_reason(username, request)
    LoginAttempt.objects.create(username=username, ip=_ip(request), at=timezone.now(), blocked=blocked)
    if blocked:
        audit.record(
            "auth.login_blocked",
            None,
            ("auth.user", username),
            {"reason": getattr(request, "_kesu_blocked", "")},
            request=request,
        )
        return
    why = getattr(request, "_kesu_auth_error", "") if request is not None else ""
    audit.record(
        "auth.login_failed", None, ("auth.user", username), {"reason": why or "bad_credentials"}, request
    )
    reason_after = lockout_reason(username, request)
    if reason_after and not reason_before:
        audit.record("auth.lockout", None, ("auth.user", username), {"scope": reason_after}, request=request)


def note_login_success(username: str, request) -> None:
    LoginAttempt.objects.create(username=username, ip=_ip(request), at=timezone.now(), success=True)


# --- TOTP -------------------------------------------------------------------------------------------


def totp_device(user) -> TotpDevice | None:
    if user is None or not getattr(user, "pk", None):
        return None
    return TotpDevice.objects.filter(user=user, confirmed=True).first()


def start_totp_enrolment(user) -> tuple[TotpDevice, str]:
    """A new (unconfirmed) secret and its otpauth:// URI for the authenticator app."""
    import pyotp

    if TotpDevice.objects.filter(user=user, confirmed=True).exists():
        # Replacing a confirmed authenticator would switch the second factor off; an administrator
        # deletes the old device (admin) after checking the person's identity.
        raise Conflict("已绑定动态口令；如需更换请联系系统管理员", code="totp_already_enrolled")
    device, _created = TotpDevice.objects.update_or_create(
        user=user, defaults={"secret": pyotp.random_base32(), "confirmed": False, "last_used_step": 0}
    )
    uri = pyotp.TOTP(device.secret).provisioning_uri(name=user.get_username(), issuer_name="Kesu 客诉")
    return device, uri


def _check_code(device: TotpDevice, code: str, *, for_time: float | None = None) -> bool:
    import pyotp

    code = (code or "").strip().replace(" ", "")
    if not re.fullmatch(r"\d{6}", code):
        return False
    totp = pyotp.TOTP(device.secret)
    now = for_time if for_time is not None else time.time()
    for drift in (0, -1, 1):
        at = now + drift * totp.interval
        if totp.verify(code, for_time=at, valid_window=0):
            step = int(at // totp.interval)
            if step <= device.last_used_step:
                return False  # replay of a code already used
            TotpDevice.objects.filter(pk=device.pk).update(last_used_step=step)
            device.last_used_step = step
            return True
    return False


def confirm_totp(user, code: str, request=None) -> bool:
    device = TotpDevice.objects.filter(user=user).first()
    if device is None or not _check_code(device, code):
        return False
    TotpDevice.objects.filter(pk=device.pk).update(confirmed=True)
    audit.record("auth.totp_enrolled", user, user, {}, request=request)
    return True


# --- backend and login form ---------------------------------------------------------------------------


class LockoutModelBackend(ModelBackend):
    """ModelBackend + lockout + TOTP. Raises PermissionDenied while locked (Django then stops trying
    other backends and sends `user_login_failed`)."""

    def authenticate(self, request, username=None, password=None, otp=None, **kwargs):
        if username is None:
            username = kwargs.get(get_user_model().USERNAME_FIELD)
        reason = lockout_reason(str(username or ""), request)
        if reason:
            if request is not None:
                request._kesu_blocked = reason
            raise PermissionDenied(lockout_message(reason))
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None:
            return None
        device = totp_device(user)
        if device is not None:
            if otp is None and request is not None:
                otp = request.POST.get("otp") if request.method == "POST" else None
            if not otp:
                if request is not None:
                    request._kesu_auth_error = "otp_required"
                return None
            if not _check_code(device, otp):
                if request is not None:
                    request._kesu_auth_error = "otp_invalid"
                return None
        return user

    def get_user(self, user_id):
        # The session's user on every web request: with its staff row, department and role codes in
        # one statement (kesu.org.principals) instead of the user, then the staff row, the department
        # and the groups one query each as the page's permission checks ask for them.
        user = user_with_principal(user_id)
        return user if user is not None and self.user_can_authenticate(user) else None


class KesuAuthenticationForm(AuthenticationForm):
    """The login form with the lockout message and the optional TOTP code."""

    otp = forms.CharField(label=_("动态口令"), required=False, max_length=10)

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": _("用户名或密码错误，请重试。"),
        "otp_required": _("该账号已启用动态口令，请输入身份验证器上的 6 位数字。"),
        "otp_invalid": _("动态口令错误或已使用，请输入最新的 6 位数字。"),
    }

    def clean(self) -> dict[str, Any]:
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        otp = self.cleaned_data.get("otp") or None
        if username is not None and password:
            try:
                self.user_cache = authenticate(self.request, username=username, password=password, otp=otp)
            except PermissionDenied as exc:  # pragma: no cover - authenticate() swallows it
                raise ValidationError(str(exc), code="locked")
            if self.user_cache is None:
                blocked = getattr(self.request, "_kesu_blocked", None) if self.request else None
                if blocked:
                    raise ValidationError(lockout_message(blocked), code="locked")
                why = getattr(self.request, "_kesu_auth_error", None) if self.request else None
                if why in ("otp_required", "otp_invalid"):
                    raise ValidationError(self.error_messages[why], code=why)
                raise self.get_invalid_login_error()
            self.confirm_login_allowed(self.user_cache)
        return self.cleaned_data


# --- middleware ---------------------------------------------------------------------------------------

SESSION_ACTIVITY_KEY = "_kesu_last_activity"
# Write the activity stamp at most this often, so reading pages does not write the session each time.
ACTIVITY_RESOLUTION = 60

# HTML pages: scripts only from this site (static files; `json_script` data blocks are not executed);
# the templates have no inline scripts or on*= handlers (tests/web/test_trust_ui.py). Inline styles stay
# allowed (style attributes in templates, htmx's indicator style). The Django admin uses external
# scripts with data-* attributes only, so it needs no relaxation.
DEFAULT_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; object-src 'none'; "
    "base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
INBOUND_PREFIXES = ("/api/v1/intake/webhook/",)
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
# The local Swagger UI of the API docs needs its own scripts and styles.
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; frame-ancestors 'none'"
)


class TrustMiddleware:
    """Idle session timeout, current request for audit hooks, security headers."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limited = self._inbound_rate_limit(request)
        if limited is not None:
            self._headers(request, limited)
            return limited
        self._idle_timeout(request)
        token = audit.current_request.set(request)
        try:
            response = self.get_response(request)
        finally:
            audit.current_request.reset(token)
        self._headers(request, response)
        return response

    @staticmethod
    def _inbound_rate_limit(request: HttpRequest) -> HttpResponse | None:
        """Per-IP limit on the unauthenticated inbound API (call-centre webhooks): a flood from one
        address is answered 429 before any signature check or database work."""
        if request.method != "POST" or not request.path.startswith(INBOUND_PREFIXES):
            return None
        from kesu.trust.ratelimit import client_ip, hit

        limit, window = getattr(settings, "KESU_INBOUND_RATE_LIMIT", (300, 60))
        if hit("inbound-ip", client_ip(request), limit=limit, window=window):
            return None
        from django.http import JsonResponse

        response = JsonResponse(
            {
                "code": "rate_limited",
                "message": "请求过于频繁，请稍后再试",
                "details": {"retry_after": window},
            },
            status=429,
            json_dumps_params={"ensure_ascii": False},
        )
        response["Retry-After"] = str(window)
        return response

    @staticmethod
    def _idle_timeout(request: HttpRequest) -> None:
        # Without a session cookie there is no session to time out: the session would be empty and the
        # user anonymous. Evaluating them anyway (the lazy user, the session store) cost every bearer-token
        # API call its share of session work and marked the session read (`Vary: Cookie` on the answer).
        # A request that carries the cookie is checked as before, with or without a bearer token: the
        # API falls back to the session when the token is refused.
        if settings.SESSION_COOKIE_NAME not in request.COOKIES:
            return
        user = getattr(request, "user", None)
        session = getattr(request, "session", None)
        if session is None or user is None or not user.is_authenticated:
            return
        idle = int(getattr(settings, "KESU_SESSION_IDLE_SECONDS", 30 * 60))
        now = int(time.time())
        last = session.get(SESSION_ACTIVITY_KEY)
        if isinstance(last, int) and idle > 0 and now - last > idle:
            audit.record("auth.session_timeout", user, user, {"idle_seconds": now - last}, request=request)
            logout(request)
            return
        if not isinstance(last, int) or now - last >= ACTIVITY_RESOLUTION:
            session[SESSION_ACTIVITY_KEY] = now

    @staticmethod
    def _headers(request: HttpRequest, response: HttpResponse) -> None:
        path = request.path
        if path.startswith("/api/"):
            csp = DOCS_CSP if path.rstrip("/").endswith("/docs") else API_CSP
            if request.method == "GET" and "Cache-Control" not in response:
                response["Cache-Control"] = "no-store"
        else:
            csp = getattr(settings, "KESU_CSP", DEFAULT_CSP)
        if csp and "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = csp
        response.setdefault("X-Content-Type-Options", "nosniff")
        response.setdefault("Referrer-Policy", "same-origin")
        response.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
        response.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        if "X-Frame-Options" not in response:
            response["X-Frame-Options"] = "DENY"
