"""Settings for the Referral Portal: one file, every value from the environment.

Defaults give the embedded setup (`make run`): SQLite under var/, kombu's
filesystem broker under var/celery, an in-process cache. Production sets
DATABASE_URL (PostgreSQL), CELERY_BROKER_URL and CACHE_URL (Redis) and
SECRET_KEY; see README.md for the full table.
"""

from __future__ import annotations

import os
import sys
from datetime import timedelta
from pathlib import Path

import environ
from csp.constants import NONCE, NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("VAR_DIR") or BASE_DIR / "var")
VAR_DIR.mkdir(parents=True, exist_ok=True)

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# Under pytest the suite provides its own values (pyproject's [tool.pytest] env).
TESTING = "pytest" in sys.modules

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="")
# Commands that only read or write the schema never sign anything, so they run without a key
# (a developer's `manage.py makemigrations --check`); everything that serves or signs fails fast.
_KEYLESS_COMMANDS = {"makemigrations", "showmigrations", "sqlmigrate"}
if not SECRET_KEY:
    if DEBUG or TESTING:
        SECRET_KEY = "django-insecure-local-development-only"  # noqa: S105 - never used with DEBUG off
    elif not (len(sys.argv) > 1 and sys.argv[0].endswith("manage.py") and sys.argv[1] in _KEYLESS_COMMANDS):
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    # django.contrib.admin with a site that asks staff for a second factor (support/admin/second_factor.py).
    "support.apps.PortalAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_countries",
    "referral_portal",
    "csp",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "ops",
    "accounts",
    "referrals",
    "coupons",
    "orders",
    "support",
    "outbound",
]

MIDDLEWARE = [
    "referral_portal.logging.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "referral_portal.middleware.PermissionsPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "lib.client.DeviceCookieMiddleware",
    "accounts.middleware.MemberLocaleMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Turns a login lockout flagged by the axes backend into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "referral_portal.urls"
WSGI_APPLICATION = "referral_portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "csp.context_processors.nonce",
                "referral_portal.context_processors.navigation",
                "referral_portal.context_processors.notifications",
            ],
        },
    },
    # The main content of the two busiest member pages (Invite Friends, My Coupons): `<app>/jinja2/`, rendered by
    # the views through this engine; the page around it stays a Django template (referral_portal/jinja2.py).
    {
        "BACKEND": "django.template.backends.jinja2.Jinja2",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {"environment": "referral_portal.jinja2.environment"},
    },
]

# --- Database -------------------------------------------------------------
# A new PostgreSQL connection per request costs more than a simple view itself,
# so connections persist and are health-checked before reuse.
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and beat share the file: WAL lets readers run beside a writer,
    # IMMEDIATE transactions make writers queue instead of failing with "locked".
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
if env.str("TEST_DATABASE_NAME", default=""):
    DATABASES["default"]["TEST"] = {"NAME": env.str("TEST_DATABASE_NAME")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache (rate limits use atomic increments; use Redis when several web processes run)
CACHES = {"default": env.cache_url("CACHE_URL", default="locmemcache://referral-portal")}
if CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache":
    # Same backend, one Redis client object per server instead of one per call (lib/cache.py).
    CACHES["default"]["BACKEND"] = "lib.cache.ReusedClientRedisCache"
    # A frozen Redis must fail fast (the rate limiters then answer without it), never hang a request: one
    # command waits at most 0.5 s, then the server's circuit breaker (lib/breaker.py) skips it for a while.
    CACHES["default"].setdefault("OPTIONS", {}).update({"socket_connect_timeout": 0.5, "socket_timeout": 0.5})
# Seconds a Redis that did not answer is skipped before one probe tries it again (lib/breaker.py).
REDIS_BREAKER_COOLDOWN_SECONDS = env.float("REDIS_BREAKER_COOLDOWN_SECONDS", default=10.0)

# --- Auth -----------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
# AxesStandaloneBackend first: it refuses locked-out attempts before any password check.
# It needs the request, so tests log in with force_login (or client.login(request=HttpRequest(), ...)).
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "referrals:invite"
LOGOUT_REDIRECT_URL = "home"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
if TESTING:
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Staff reach the admin only after a code from an authenticator app (TOTP); on whenever DEBUG is off.
STAFF_REQUIRE_2FA = env.bool("STAFF_REQUIRE_2FA", default=not DEBUG)
OTP_TOTP_ISSUER = env.str("OTP_TOTP_ISSUER", default="Referral Portal")
# The admin never shows an authenticator's key or QR code (only the set-up page does, once, before it is confirmed).
OTP_ADMIN_HIDE_SENSITIVE_DATA = True

# --- I18N -----------------------------------------------------------------
LANGUAGE_CODE = "en"
# Each language but English has a catalog under locale/ (docs/translations.md: how to add one).
LANGUAGES = [
    ("en", "English"),
    ("de", "Deutsch"),
    ("fr", "Français"),
    ("es", "Español"),
    ("pt-br", "Português (Brasil)"),
]
LOCALE_PATHS = [BASE_DIR / "locale"]
# English dates as the portal writes them (day month year, 24 h); other languages keep Django's formats.
FORMAT_MODULE_PATH = ["referral_portal.formats"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files (served by the app through whitenoise; no CDN) -----------
STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG or TESTING
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = DEBUG or TESTING

# --- E-mail ---------------------------------------------------------------
_email = env.email_url("EMAIL_URL", default="consolemail://")
# On the console (`make run`), one line per e-mail (who, subject, links); EMAIL_CONSOLE=full prints them whole.
if _email["EMAIL_BACKEND"].endswith("console.EmailBackend") and env.str("EMAIL_CONSOLE", default="") != "full":
    _email["EMAIL_BACKEND"] = "referral_portal.mail.SummaryConsoleBackend"
vars().update(_email)
# Seconds an SMTP connect or reply may take: a frozen mail server fails the send instead of hanging a request.
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Referral Portal <no-reply@referral.example>")

# --- Security -------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
# The language switcher's cookie (a visitor's choice; a member's is their profile language).
LANGUAGE_COOKIE_SECURE = SESSION_COOKIE_SECURE
LANGUAGE_COOKIE_SAMESITE = "Lax"
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
BEHIND_PROXY = env.bool("BEHIND_PROXY", default=False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if BEHIND_PROXY else None
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# A page opened from the portal cannot reach back into its window (SecurityMiddleware sends it).
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# Browser features off for the portal and anything it embeds (referral_portal/middleware.py).
PERMISSIONS_POLICY = ", ".join(
    [
        "accelerometer=()",
        "camera=()",
        "display-capture=()",
        "geolocation=()",
        "gyroscope=()",
        "magnetometer=()",
        "microphone=()",
        "payment=()",
        "usb=()",
        "clipboard-write=(self)",
        "web-share=(self)",
    ]
)
SILENCED_SYSTEM_CHECKS = env.list("SILENCED_SYSTEM_CHECKS", default=[])

# No inline script or style anywhere; scripts need the per-request nonce.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

# Keyed hashes for IPs and device ids: rotate by changing the key (old hashes
# then stop matching, which only weakens fraud signals, never rewards).
SIGNAL_HASH_KEY = env.str("SIGNAL_HASH_KEY", default=SECRET_KEY)
RAW_IP_RETENTION_DAYS = env.int("RAW_IP_RETENTION_DAYS", default=30)

# --- Shop simulation ------------------------------------------------------------
# The seller's side of the demo shop (mark paid, mark shipped) for `make run`: off whenever DEBUG is off unless set
# explicitly, and `check --deploy` warns while it is on (orders/checks.py).
SHOP_SIMULATION = env.bool("SHOP_SIMULATION", default=DEBUG)
# --- Order events webhook ---------------------------------------------------
# Two secrets during rotation: the current one first.
ORDER_EVENTS_SECRETS = env.list("ORDER_EVENTS_SECRETS", default=["dev-order-events-secret"] if DEBUG or TESTING else [])
ORDER_EVENTS_TOLERANCE_SECONDS = env.int("ORDER_EVENTS_TOLERANCE_SECONDS", default=300)
ORDER_EVENTS_RATE_LIMIT = env.int("ORDER_EVENTS_RATE_LIMIT", default=600)
# Outbound referral events (docs/outbound-events.md): each HTTP attempt gives up after this many seconds, a
# delivery is tried at most this many times, retries wait base × 2^(n−1) seconds (at most 6 hours).
OUTBOUND_EVENTS_TIMEOUT_SECONDS = env.float("OUTBOUND_EVENTS_TIMEOUT_SECONDS", default=3.0)
OUTBOUND_EVENTS_MAX_ATTEMPTS = env.int("OUTBOUND_EVENTS_MAX_ATTEMPTS", default=8)
OUTBOUND_EVENTS_RETRY_BASE_SECONDS = env.int("OUTBOUND_EVENTS_RETRY_BASE_SECONDS", default=60)
# Endpoints must be HTTPS; plain HTTP only to these hosts (local receivers in development and tests).
OUTBOUND_EVENTS_HTTP_HOSTS = env.list(
    "OUTBOUND_EVENTS_HTTP_HOSTS", default=["127.0.0.1", "localhost"] if DEBUG or TESTING else []
)

# --- Login throttling (django-axes; policy in accounts/throttle.py) ----------
AXES_ENABLED = True
# No axes pages in the admin: their "delete expired attempts" action is neither permission-bound nor audited
# (tests/support/test_staff_powers.py); lockouts are lifted with `manage.py axes_reset_username` (README).
AXES_ENABLE_ADMIN = False
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = timedelta(minutes=15)
# No reset on success: logging in to one's own account must not wipe an IP's failures on others.
AXES_RESET_ON_SUCCESS = False
AXES_USERNAME_FORM_FIELD = "username"  # AuthenticationForm's field name (it holds the e-mail)
AXES_USERNAME_CALLABLE = "accounts.throttle.login_username"
AXES_LOCKOUT_PARAMETERS = "accounts.throttle.lockout_parameters"
AXES_CLIENT_IP_CALLABLE = "accounts.throttle.client_ip"
AXES_LOCKOUT_CALLABLE = "accounts.throttle.lockout_response"

# --- SMS ------------------------------------------------------------------
# Development writes texts to var/sms-outbox.txt; with DEBUG off anything but a real provider fails
# `check --deploy` (referral_portal/checks.py), and no backend logs a message body.
SMS_BACKEND = env.str(
    "SMS_BACKEND",
    default="accounts.sms.LocmemSMSBackend"
    if TESTING
    else ("accounts.sms.FileSMSBackend" if DEBUG else "accounts.sms.ConsoleSMSBackend"),
)
SMS_API_URL = env.str("SMS_API_URL", default="")
SMS_API_TOKEN = env.str("SMS_API_TOKEN", default="")
SMS_API_TIMEOUT = env.int("SMS_API_TIMEOUT", default=10)

# --- Celery ---------------------------------------------------------------
# Tests publish to an in-process broker (never to the dev queue under var/); tests that need a
# real broker point the app at Redis themselves.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="") or ("memory://" if TESTING else "filesystem://localhost//")
_celery_dir = VAR_DIR / "celery"
# A frozen Redis must not hang a request: fail fast, the sweep heals it
# (tests/integration/test_crediting_reliability.py points a broker at a server that never answers).
# An unacknowledged task (acks_late) is delivered again after visibility_timeout: it stays above every
# task's time limit, so a task still running is never handed to a second worker (tests/test_settings.py).
REDIS_BROKER_TRANSPORT_OPTIONS = {
    "socket_timeout": 3,
    "socket_connect_timeout": 3,
    "visibility_timeout": 3600,
    "max_retries": 1,
}
if CELERY_BROKER_URL.startswith("filesystem://"):
    # Every folder of kombu's filesystem transport, the exchange tables (`control_folder`, else ./control) included,
    # lives under var/: nothing is written into the working directory.
    for sub in ("queue", "processed", "control"):
        (_celery_dir / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_celery_dir / "queue"),
        "data_folder_out": str(_celery_dir / "queue"),
        "processed_folder": str(_celery_dir / "processed"),
        "control_folder": str(_celery_dir / "control"),
        "store_processed": False,
    }
elif CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    CELERY_BROKER_TRANSPORT_OPTIONS = dict(REDIS_BROKER_TRANSPORT_OPTIONS)
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_TIMEOUT = 3
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = 50
CELERY_TASK_TIME_LIMIT = 60
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Celery's Django fixup closes every database connection before and after each task unless told to reuse them:
# reuse each for this many tasks (counted before and after), and let CONN_MAX_AGE / CONN_HEALTH_CHECKS retire it.
CELERY_DB_REUSE_MAX = env.int("CELERY_DB_REUSE_MAX", default=1000)

# --- Outbox (ops/services/outbox.py): work that follows a commit is a row, dispatched after commit ------
# "thread": a dispatcher thread per process (a request never waits on the broker); "inline": in the
# committing thread (tests: deterministic; Celery worker processes switch to it themselves).
OUTBOX_DISPATCH = env.str("OUTBOX_DISPATCH", default="inline" if TESTING else "thread")
# Each web process relays rows left pending (a broker outage) this often; beat's relay runs every 10 s.
OUTBOX_POLL_SECONDS = env.float("OUTBOX_POLL_SECONDS", default=5.0)

# --- Monitoring -------------------------------------------------------------------------------------------
# /metrics (Prometheus) and /healthz/dependencies answer a staff session or `Authorization: Bearer <token>`.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")

# --- Program ----------------------------------------------------------------
REFERRAL_ATTRIBUTION_DAYS = 30
# Raw link clicks that no referral points at are kept this many days, then deleted by the daily retention job once
# the click roll-up has counted them into ClickTally (referrals.services.retention; docs/performance.md "Click growth").
CLICK_RETENTION_DAYS = env.int("CLICK_RETENTION_DAYS", default=90)
# Link clicks recorded per IP hash and minute (shared cache); more still redirect, unrecorded.
REFERRAL_CLICK_RATE_LIMIT = env.int("REFERRAL_CLICK_RATE_LIMIT", default=30)
# Sign-up attempts (every POST, valid or not) per client IP and hour in the shared cache; 0 = no limit.
SIGNUP_RATE_LIMIT = env.int("SIGNUP_RATE_LIMIT", default=10)
DEVICE_COOKIE_NAME = "rp_device"
ATTRIBUTION_COOKIE_NAME = "rp_ref"

# The per-referral credit task keeps the regions' reward terms this long per process (referrals.services.terms);
# a staff edit of a region applies after at most this long. Tests read them every time.
REWARD_TERMS_CACHE_SECONDS = env.int("REWARD_TERMS_CACHE_SECONDS", default=0 if TESTING else 30)

# --- Logging: one line per event, with the request or task id ---------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
# Celery itself exports CELERY_LOG_LEVEL to its processes as a number ("40"); a name ("WARNING") works too.
_celery_log_level = env.str("CELERY_LOG_LEVEL", default="INFO")
CELERY_LOG_LEVEL: int | str = int(_celery_log_level) if _celery_log_level.isdigit() else _celery_log_level
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "referral_portal.logging.ContextFilter"}},
    "formatters": {
        "line": {
            "format": "%(asctime)s %(levelname)s %(name)s [req=%(request_id)s task=%(task_id)s] %(message)s",
        }
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "line", "filters": ["context"]},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        # `make run` (Procfile.dev) turns the worker's and beat's own chatter down to warnings.
        "celery": {"level": CELERY_LOG_LEVEL},
        "axes.apps": {"level": "WARNING"},
        # "Task … received" / "succeeded" for every task: failures and retries are logged at WARNING and above.
        "celery.app.trace": {"level": env.str("CELERY_TASK_LOG_LEVEL", default="WARNING")},
        "celery.worker.strategy": {"level": env.str("CELERY_TASK_LOG_LEVEL", default="WARNING")},
    },
}
