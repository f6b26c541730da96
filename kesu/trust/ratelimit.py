"""A small fixed-window rate limiter on Django's default cache, the database cache every process shares
(kesu.trust.cache): the limits hold across gunicorn workers instead of multiplying with them."""

from __future__ import annotations

import hashlib

from django.core.cache import cache


def client_ip(request) -> str:
    # Behind a reverse proxy set KESU_TRUST_PROXY and let the proxy overwrite X-Forwarded-For.
    from django.conf import settings

    if getattr(settings, "KESU_TRUST_PROXY", False):
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            return forwarded.split(",")[-1].strip()
    return request.META.get("REMOTE_ADDR", "") or "unknown"


def hit(scope: str, key: str, *, limit: int, window: int) -> bool:
    """Count one attempt; True while the caller is within `limit` attempts per `window` seconds."""
    digest = hashlib.sha256(f"{scope}:{key}".encode()).hexdigest()[:32]
    cache_key = f"kesu:rl:{scope}:{digest}"
    if cache.add(cache_key, 1, timeout=window):
        return True
    try:
        count = cache.incr(cache_key)
    except ValueError:  # expired between add and incr
        cache.set(cache_key, 1, timeout=window)
        return True
    return count <= limit
