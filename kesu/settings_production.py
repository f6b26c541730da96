"""Production settings: `DJANGO_SETTINGS_MODULE=kesu.settings_production`.

Everything of `kesu.settings` (environment variables, database, apps) plus the flags a real
installation behind TLS needs. `KESU_SECRET_KEY` is required (at least 50 random characters):

    KESU_SECRET_KEY=$(python -c 'import secrets; print(secrets.token_urlsafe(64))') \
        python manage.py check --deploy --settings=kesu.settings_production

TLS is terminated by the reverse proxy (nginx), which sets `X-Forwarded-Proto: https`.
"""

import os

from django.core.exceptions import ImproperlyConfigured

from kesu.settings import *  # noqa: F403
from kesu.settings import env_bool

DEBUG = False

SECRET_KEY = os.environ.get("KESU_SECRET_KEY", "")
if len(SECRET_KEY) < 50 or SECRET_KEY.startswith("kesu-embedded"):
    raise ImproperlyConfigured("生产环境须设置 KESU_SECRET_KEY（至少 50 个随机字符）")

# HTTPS only: the proxy terminates TLS and tells Django the original scheme.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("KESU_SSL_REDIRECT", True)
SECURE_REDIRECT_EXEMPT = [r"^healthz/?$"]
SECURE_HSTS_SECONDS = int(os.environ.get("KESU_HSTS_SECONDS", 31536000))
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("KESU_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("KESU_HSTS_PRELOAD", False)
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("KESU_CSRF_TRUSTED_ORIGINS", "").split(",") if o]
# The client address is the proxy's X-Forwarded-For (rate limits, lockout, audit).
KESU_TRUST_PROXY = env_bool("KESU_TRUST_PROXY", True)

# Full password hashing cost, and admins should use TOTP (see SECURITY.md).
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]

SILENCED_SYSTEM_CHECKS = [
    # HSTS preload is an opt-in (KESU_HSTS_PRELOAD): it cannot be undone quickly.
    *(["security.W021"] if not SECURE_HSTS_PRELOAD else []),
]

# Connections (docs/deploy.md, "Connection budget"): on PostgreSQL each gunicorn worker process keeps a
# small psycopg 3 pool shared by its threads instead of one persistent connection per thread, so that
#   hosts × gunicorn workers × KESU_DB_POOL_MAX_SIZE + task workers × 2 + schedulers ≤ max_connections − reserve.
# Django's pool requires CONN_MAX_AGE = 0 (a connection goes back to the pool at the end of each request).
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and env_bool("KESU_DB_POOL", True):  # noqa: F405
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {  # noqa: F405
        "min_size": int(os.environ.get("KESU_DB_POOL_MIN_SIZE", 1)),
        "max_size": int(os.environ.get("KESU_DB_POOL_MAX_SIZE", 4)),
        # A request waits this long for a free connection before failing (503 rather than a pile-up).
        "timeout": float(os.environ.get("KESU_DB_POOL_TIMEOUT", 10)),
        # Connections are renewed now and then (a PostgreSQL restart or failover leaves none stale).
        "max_lifetime": float(os.environ.get("KESU_DB_POOL_MAX_LIFETIME", 1800)),
        "max_idle": float(os.environ.get("KESU_DB_POOL_MAX_IDLE", 300)),
    }
