"""Authentication of API requests: bearer tokens for integrations, the Django session for the web UI.

Bearer tokens (`Authorization: Bearer ksu_...`) are looked up by their SHA-256 hash
(`kesu.org.models.ApiToken`); a token carries scopes: `"*"` (everything), `"<app>:*"`,
`"<app>:read"` (GET/HEAD/OPTIONS) or `"<app>:write"` (every method), where `<app>` is the first
path segment after `/api/v1/` (`cases`, `policy`, `org` ...).

Session requests must carry the CSRF token for unsafe methods, exactly like Django forms.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone
from ninja.security import HttpBearer
from ninja.security.base import AuthBase
from ninja.utils import check_csrf

from kesu.errors import Forbidden
from kesu.org.models import ApiToken
from kesu.org.principals import token_with_principal

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# `last_used_at` is written at most this often per token, so reads do not turn into writes.
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)


def required_scope(request: HttpRequest) -> str:
    """The scope a request needs: `<app>:read` or `<app>:write`."""
    path = request.path
    marker = "/api/v1/"
    rest = path.split(marker, 1)[1] if marker in path else path.lstrip("/")
    app = rest.split("/", 1)[0] or "api"
    return f"{app}:{'read' if request.method in SAFE_METHODS else 'write'}"


def scope_allows(scopes: list[str] | None, needed: str) -> bool:
    granted = set(scopes or [])
    app, _, mode = needed.partition(":")
    if "*" in granted or f"{app}:*" in granted or needed in granted:
        return True
    # Write access to an app includes reading it.
    return mode == "read" and f"{app}:write" in granted


def user_for_token(key: str) -> tuple[Any, ApiToken] | None:
    """The active user and token for a raw bearer key, or None."""
    if not key or len(key) > 200:
        return None
    # The user's staff row, department and role codes come with the token in one statement: every
    # permission check of the request reads them (kesu.org.principals).
    token = token_with_principal(ApiToken.hash_key(key))
    if token is None or not token.is_usable() or not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token.user, token


class BearerTokenAuth(HttpBearer):
    """`Authorization: Bearer <key>` with an `ApiToken`; refuses a token without the needed scope (403)."""

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        found = user_for_token(token)
        if found is None:
            return None
        user, api_token = found
        needed = required_scope(request)
        if not scope_allows(api_token.scopes, needed):
            raise Forbidden(
                f"令牌没有「{needed}」权限范围", code="insufficient_scope", details={"required_scope": needed}
            )
        request.user = user
        request.api_token = api_token
        return user


class SessionAuth(AuthBase):
    """The logged-in web user; unsafe methods need the CSRF token (header `X-CSRFToken`)."""

    openapi_type = "apiKey"
    openapi_in = "cookie"
    openapi_name = settings.SESSION_COOKIE_NAME

    def __call__(self, request: HttpRequest) -> Any:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        if request.method not in SAFE_METHODS and not getattr(request, "_ninja_csrf_exempt", False):
            if check_csrf(request) is not None:
                raise Forbidden("CSRF 校验失败，请刷新页面后重试", code="csrf_failed")
        return user


bearer_auth = BearerTokenAuth()
session_auth = SessionAuth()
API_AUTH = [bearer_auth, session_auth]
