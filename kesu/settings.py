"""Django settings for Kesu.

Twelve-factor: everything that differs between the embedded demo and a real
deployment comes from environment variables (or a `.env` file) with safe
defaults for the embedded SQLite mode.
"""

import os
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent


def _read_dotenv(path: Path) -> None:
    # A tiny .env reader: KEY=VALUE lines, environment wins over the file.
    if not path.is_file():
        return
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        os.environ.setdefault(key.strip(), value.strip().strip('"').strip("'"))


_read_dotenv(BASE_DIR / ".env")


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


DEBUG = env_bool("KESU_DEBUG", False)
SECRET_KEY = os.environ.get("KESU_SECRET_KEY", "kesu-embedded-insecure-key-change-me-for-production-use")
ALLOWED_HOSTS = [
    h for h in os.environ.get("KESU_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",") if h
]

VAR_DIR = Path(os.environ.get("KESU_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_tasks",
    "django_tasks_db",
    "ninja",  # serves the API docs' Swagger UI from local static files (no CDN)
    # Bottom to top, as the layers contract in pyproject.toml orders them (docs/architecture.md).
    "kesu.org",
    "kesu.policy",
    "kesu.calendar",
    "kesu.cases",
    "kesu.sla",
    "kesu.trust",
    "kesu.intake",
    "kesu.analytics",
    "kesu.insight",
    "kesu.web",
]

# What reacts to a case event, in this order, inside the transaction of `kesu.cases.services.perform`
# (and of registration, and per chunk of the bulk importer): see kesu/cases/subscribers.py and
# docs/architecture.md. Each entry is a module with `on_event(case, event, rules)` and optionally
# `on_imported(chunk)`.
KESU_CASE_EVENT_SUBSCRIBERS = [
    "kesu.insight.subscriber",  # triage feedback: the category chosen against the one suggested
    "kesu.analytics.subscriber",  # daily-count and close-time rollups
    "kesu.sla.subscriber",  # stage deadlines, extensions, the binding deadline, graded accountability
    "kesu.sla.handoffs",  # every hand-off tells its recipient (inbox + e-mail)
]

# The periodic jobs that `kesu scheduler` enqueues (kesu/sla/schedule.py): each app's enqueue function,
# every N minutes or daily at an Asia/Shanghai time.
KESU_PERIODIC_JOBS = [
    {"name": "sla.sweep", "enqueue": "kesu.sla.tasks.enqueue_sweep", "every_minutes": 5},
    # Notifications whose e-mail task was lost (a worker or host died) or failed are mailed again.
    {"name": "sla.email_catch_up", "enqueue": "kesu.sla.tasks.enqueue_email_catch_up", "every_minutes": 10},
    # Penalty proposals (and whatever else a user takes as a digest) as one message a day.
    {"name": "sla.digest", "enqueue": "kesu.sla.tasks.enqueue_digest", "daily_at": "08:30"},
    {
        "name": "insight.hourly_crisis_checks",
        "enqueue": "kesu.insight.tasks.enqueue_hourly_crisis_checks",
        "every_minutes": 60,
    },
    {"name": "insight.daily", "enqueue": "kesu.insight.tasks.enqueue_daily", "daily_at": "06:10"},
    {"name": "insight.train", "enqueue": "kesu.insight.tasks.enqueue_training", "daily_at": "02:00"},
    # Daily slot, but the job itself runs on Mondays only (the week just ended).
    {"name": "insight.topics", "enqueue": "kesu.insight.tasks.enqueue_weekly_topics", "daily_at": "06:20"},
    {
        "name": "analytics.reports",
        "enqueue": "kesu.analytics.tasks.enqueue_report_schedule",
        "daily_at": "06:00",
    },
    # The audit and case-event chain heads, out of the database (log + mail to ADMINS; SECURITY.md).
    {"name": "trust.anchor", "enqueue": "kesu.trust.tasks.enqueue_anchor", "daily_at": "00:30"},
    # SQLite's planner statistics (PostgreSQL's autovacuum keeps its own); see kesu.trust.tasks.
    {
        "name": "trust.optimize_database",
        "enqueue": "kesu.trust.tasks.enqueue_optimize_database",
        "daily_at": "03:30",
    },
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # trust (issue 8): idle session timeout, audit request context, CSP and other security headers
    "kesu.trust.security.TrustMiddleware",
]

ROOT_URLCONF = "kesu.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
            ],
        },
    },
]

WSGI_APPLICATION = "kesu.wsgi.application"

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("KESU_DATABASE_URL", f"sqlite:///{VAR_DIR / 'kesu.sqlite3'}"),
        conn_max_age=60,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL + a busy timeout let the web process and the task worker share the file.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    # Persistent per-thread connections (the 60 s above) as on PostgreSQL: opening one per request cost
    # each request ~1 ms of CPU (connect, the PRAGMAs above, Django's SQL functions) and its close.
    if os.environ.get("KESU_TEST_DATABASE_FILE"):
        # Django's SQLite test database is in memory with a shared cache, where a write meets a
        # concurrent reader's table lock as SQLITE_LOCKED at once (no busy timeout). The browser
        # tests serve real concurrent requests (the intake preview fires while the form posts), so
        # they use a file with WAL like production.
        DATABASES["default"]["TEST"] = {"NAME": os.environ["KESU_TEST_DATABASE_FILE"]}
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # No JIT: the analysis queries' estimated costs (subqueries per case) trigger it, and compiling
    # took 0.8 s of a 1.0 s KPI query at 1M cases for 0.15 s of actual work.
    options = DATABASES["default"].setdefault("OPTIONS", {})
    options["options"] = (options.get("options", "") + " -c jit=off").strip()

# One cache for every process (gunicorn workers, task worker, scheduler): rate limits and lockout-adjacent
# counters must not multiply with the number of workers, as they would in each process's own memory.
# The database cache needs nothing beyond the database; its table comes with `kesu migrate`
# (kesu/trust/migrations/0002_shared_cache.py). Each write counts the table's rows and culls expired
# entries above MAX_ENTRIES.
CACHES = {
    "default": {
        "BACKEND": "kesu.trust.cache.SharedDatabaseCache",
        "LOCATION": "kesu_cache",
        "OPTIONS": {"MAX_ENTRIES": int(os.environ.get("KESU_CACHE_MAX_ENTRIES", 20000))},
    }
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "kesu.trust.security.PasswordComplexityValidator",
        "OPTIONS": {"min_length": 10, "min_classes": 3},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Authentication (issue 8): lockout + optional TOTP in the backend; idle sessions end after
# KESU_SESSION_IDLE_SECONDS (kesu.trust.security.TrustMiddleware); the cookie dies with the browser or after 12 h.
AUTHENTICATION_BACKENDS = ["kesu.trust.security.LockoutModelBackend"]
KESU_LOCKOUT_FAILURES = int(os.environ.get("KESU_LOCKOUT_FAILURES", 5))
KESU_LOCKOUT_IP_FAILURES = int(os.environ.get("KESU_LOCKOUT_IP_FAILURES", 5))
KESU_LOCKOUT_WINDOW = int(os.environ.get("KESU_LOCKOUT_WINDOW", 15 * 60))
KESU_SESSION_IDLE_SECONDS = int(os.environ.get("KESU_SESSION_IDLE_SECONDS", 30 * 60))
SESSION_COOKIE_AGE = int(os.environ.get("KESU_SESSION_MAX_SECONDS", 12 * 3600))
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "kesu" / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# `kesu collectstatic` copies the static files here; in production nginx serves them (docs/deploy.md).
STATIC_ROOT = Path(os.environ.get("KESU_STATIC_ROOT", VAR_DIR / "static"))
MEDIA_ROOT = Path(os.environ.get("KESU_MEDIA_DIR", VAR_DIR / "media"))
MEDIA_URL = None  # attachments are never served from a public URL; see kesu.cases.attachments

# Evidence attachments (`attachments/…`) and archived reports (`reports/…`) are read and written only
# through Django's storage API (`default_storage`), never through file paths, so that every host of a
# multi-host installation sees the same files (docs/deploy.md, "Several hosts"):
# * KESU_STORAGE=filesystem (default): MEDIA_ROOT; on several hosts a shared directory (NFS) mounted at
#   the same KESU_MEDIA_DIR everywhere.
# * KESU_STORAGE=s3: an S3-compatible object store (django-storages + boto3; MinIO, SeaweedFS, Ceph, OSS...),
#   private objects, files streamed through the app after its permission check.
KESU_STORAGE = os.environ.get("KESU_STORAGE", "filesystem").strip().lower()
if KESU_STORAGE == "s3":
    _default_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": os.environ.get("KESU_S3_BUCKET", "kesu"),
            "endpoint_url": os.environ.get("KESU_S3_ENDPOINT_URL") or None,
            "access_key": os.environ.get("KESU_S3_ACCESS_KEY") or None,
            "secret_key": os.environ.get("KESU_S3_SECRET_KEY") or None,
            "region_name": os.environ.get("KESU_S3_REGION") or None,
            "location": os.environ.get("KESU_S3_PREFIX", ""),
            "default_acl": "private",
            "querystring_auth": True,
            # Names are random (attachments) or unique per generation (reports): never overwrite.
            "file_overwrite": False,
            "addressing_style": os.environ.get("KESU_S3_ADDRESSING_STYLE", "path"),
            "signature_version": "s3v4",
        },
    }
elif KESU_STORAGE == "filesystem":
    _default_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        # No explicit location: MEDIA_ROOT, read when used (tests point it elsewhere).
        "OPTIONS": {"file_permissions_mode": 0o600, "directory_permissions_mode": 0o750},
    }
else:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(f"KESU_STORAGE must be filesystem or s3, not {KESU_STORAGE!r}")
STORAGES = {
    "default": _default_storage,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"

TASKS = {"default": {"BACKEND": os.environ.get("KESU_TASKS_BACKEND", "django_tasks_db.DatabaseBackend")}}

# Who receives the daily chain anchor (kesu.trust.anchor): "a@example.com,b@example.com". Without it,
# the active users holding the 系统管理员 role.
ADMINS = [(a.strip(), a.strip()) for a in os.environ.get("KESU_ADMIN_EMAILS", "").split(",") if a.strip()]

EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
_email_url = os.environ.get("KESU_EMAIL_URL", "console://")
if _email_url.startswith("console:"):
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
elif _email_url.startswith("smtp:"):
    from urllib.parse import urlparse

    _u = urlparse(_email_url)
    EMAIL_HOST, EMAIL_PORT = _u.hostname or "127.0.0.1", _u.port or 25
    EMAIL_HOST_USER, EMAIL_HOST_PASSWORD = _u.username or "", _u.password or ""
DEFAULT_FROM_EMAIL = os.environ.get("KESU_FROM_EMAIL", "kesu@localhost")

# Attachment limits (evidence files).
KESU_ATTACHMENT_MAX_BYTES = int(os.environ.get("KESU_ATTACHMENT_MAX_BYTES", 10 * 1024 * 1024))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"kesu": {"handlers": ["console"], "level": os.environ.get("KESU_LOG_LEVEL", "INFO")}},
}

# Task workers (`kesu worker`, kesu/sla/workers.py): each beats every KESU_WORKER_BEAT_SECONDS; a task held
# by a worker silent for KESU_WORKER_LEASE_SECONDS goes back to the queue (at most KESU_TASK_MAX_ATTEMPTS
# runs). The lease must be well above the beat interval and a database hiccup.
KESU_WORKER_BEAT_SECONDS = float(os.environ.get("KESU_WORKER_BEAT_SECONDS", 10))
KESU_WORKER_LEASE_SECONDS = float(os.environ.get("KESU_WORKER_LEASE_SECONDS", 60))
KESU_TASK_MAX_ATTEMPTS = int(os.environ.get("KESU_TASK_MAX_ATTEMPTS", 3))
KESU_UNTRACKED_TASK_TIMEOUT_SECONDS = float(os.environ.get("KESU_UNTRACKED_TASK_TIMEOUT_SECONDS", 6 * 3600))
