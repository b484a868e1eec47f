"""Settings of the monolith, from the environment only (docs/components.md, "Settings").

Without ``DATABASE_URL`` the monolith runs on the embedded default: a SQLite file in
``$STRANGLER_VAR_DIR`` (WAL and a busy timeout, so gunicorn workers, Celery and the CLI can share
it). With a PostgreSQL URL it keeps persistent, health-checked connections.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dj_database_url

from contracts.json_limits import MAX_BODY_BYTES

VAR_DIR = Path(os.environ.get("STRANGLER_VAR_DIR", "var")).resolve()


def _flag(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _database() -> dict[str, Any]:
    url = os.environ.get("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'monolith.sqlite3'}"
    config: dict[str, Any] = dict(dj_database_url.parse(url))
    if config["ENGINE"] == "django.db.backends.sqlite3":
        db_file = Path(config["NAME"])
        db_file.parent.mkdir(parents=True, exist_ok=True)
        config["OPTIONS"] = {
            # WAL lets readers and one writer work at once; IMMEDIATE takes the write lock when a
            # transaction starts, so concurrent writers queue on the busy timeout instead of
            # failing when a read lock cannot be upgraded (SQLite has no SELECT ... FOR UPDATE).
            "init_command": "PRAGMA journal_mode=WAL;PRAGMA synchronous=NORMAL",
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
        }
        # A file (not the in-memory default), so threads in tests share one database.
        config["TEST"] = {"NAME": str(db_file.with_name(f"test_{db_file.name}"))}
    else:
        config["CONN_MAX_AGE"] = 600
        config["CONN_HEALTH_CHECKS"] = True
    return config


BASE_DIR = Path(__file__).resolve().parent

SECRET_KEY = os.environ.get(
    "DJANGO_SECRET_KEY", "dev-only-insecure-key-set-DJANGO_SECRET_KEY-in-real-mode"
)
DEBUG = _flag("DJANGO_DEBUG")
#: The Host names every owner answers to (one setting for the whole stack; Django's rules: an
#: exact name, ".example.com" for the domain and its subdomains, "*" for any). Another Host gets
#: the contract's 400, so an attacker's Host never reaches a link.
ALLOWED_HOSTS = [
    host.strip()
    for host in os.environ.get("STRANGLER_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",")
    if host.strip()
]
#: Where clients reach the API (the proxy in front): absolute links (pagination) are built on it
#: when set, not on the request's Host. ``scheme://host[:port]``.
PUBLIC_ORIGIN = os.environ.get("STRANGLER_PUBLIC_ORIGIN", "").rstrip("/")

INSTALLED_APPS = [
    # The admin without autodiscovery at django.setup(): the URLconf that serves it loads each
    # app's admin.py (monolith/urls.py), so the relay and the Celery worker, which never serve
    # it, do not import the admin and the service layer it calls (some 35 MiB a process).
    "django.contrib.admin.apps.SimpleAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    # Swagger UI's files, served by this process (SPECTACULAR_SETTINGS): the docs page needs no CDN.
    "drf_spectacular_sidecar",
    "monolith.identity",
    "monolith.inventory",
    "monolith.payments",
    "monolith.orders",
    "monolith.outbox",
    "monolith.idempotency",
    "monolith.reverse_sync",
]

AUTH_USER_MODEL = "identity.User"

# Identity (monolith/identity/keys.py): the Ed25519 pair that signs access tokens. Generated on
# first use when the private key file is missing (embedded mode); mounted secrets in real mode.
JWT_PRIVATE_KEY_FILE = Path(
    os.environ.get("STRANGLER_JWT_PRIVATE_KEY_FILE", VAR_DIR / "keys" / "jwt-private.pem")
)
JWT_PUBLIC_KEY_FILE = Path(
    os.environ.get("STRANGLER_JWT_PUBLIC_KEY_FILE", VAR_DIR / "keys" / "jwt-public.pem")
)
JWT_TTL_S = int(os.environ.get("STRANGLER_JWT_TTL_S", "900"))

# Branch by abstraction (docs/branch-by-abstraction.md): once a capability's direction is
# ``reverse``, the orders' checkout, cancel and fulfil reach its owner over HTTP through the
# façade (the proxy's public listener, whose route table decides who answers), as the account
# ``ORDERS_REMOTE_ACCOUNT`` with a token this monolith issues itself.
FACADE_URL = os.environ.get("STRANGLER_FACADE_URL", "http://127.0.0.1:8080").rstrip("/")
ORDERS_REMOTE_ACCOUNT = os.environ.get("MONOLITH_ORDERS_ACCOUNT", "monolith-orders")
ORDERS_REMOTE_CONNECT_TIMEOUT_S = float(os.environ.get("MONOLITH_REMOTE_CONNECT_TIMEOUT_S", "2"))
# A slow card (tok_slow_<ms>) may take up to 10 s at the gateway, behind the payments service.
ORDERS_REMOTE_READ_TIMEOUT_S = float(os.environ.get("MONOLITH_REMOTE_READ_TIMEOUT_S", "15"))
# Tries of one idempotent call (a switch's freeze answers 503 + Retry-After for a second or two).
ORDERS_REMOTE_ATTEMPTS = int(os.environ.get("MONOLITH_REMOTE_ATTEMPTS", "6"))
# A remote order write not finished within its lease (its process died) is taken over by the
# recovery pass, which runs in each monolith process on start and then every interval.
ORDERS_PROGRESS_LEASE_S = float(os.environ.get("MONOLITH_ORDERS_LEASE_S", "120"))
ORDERS_RECOVERY_INTERVAL_S = float(os.environ.get("MONOLITH_ORDERS_RECOVERY_INTERVAL_S", "5"))
# TEST ONLY (monolith/orders/crash.py): the step at which the process kills itself.
ORDERS_CRASH_AT = os.environ.get("MONOLITH_ORDERS_CRASH_AT") or None

MIDDLEWARE = [
    "monolith.request_ids.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # The static files (the admin's, Swagger UI's) under gunicorn, where Django serves none.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "monolith.dry_run.DryRunMiddleware",
]

ROOT_URLCONF = "monolith.urls"
WSGI_APPLICATION = "monolith.wsgi.application"

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
            ],
        },
    },
]

DATABASES = {"default": _database()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
USE_I18N = True
USE_TZ = True
TIME_ZONE = "UTC"

# Static files are the installed apps' own (the admin's, Swagger UI's from the sidecar), served
# by WhiteNoise straight from where the apps keep them: found once when the process starts, so
# no `collectstatic` step to run or forget, and nothing copied into the var folder.
STATIC_URL = "static/"
WHITENOISE_USE_FINDERS = True

# Every owner's body size limit (contracts/json_limits.py): a larger body is a 400 bad_request.
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_BODY_BYTES

# The contract's paths end with "/" and a path without it is an unknown URL, never a redirect.
APPEND_SLASH = False

REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # DRF's JSONParser within the limits every owner applies (contracts/json_limits.py).
    "DEFAULT_PARSER_CLASSES": ["monolith.api.parsers.BoundedJSONParser"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "monolith.api.negotiation.JsonOnlyNegotiation",
    # Bearer tokens only, and only on the APIs that need a caller (``AuthenticatedApi``): the
    # inventory contract is open, and session/basic auth would only add CSRF surprises.
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    # OPTIONS is not part of the contract: without a metadata class DRF answers it with a 405.
    "DEFAULT_METADATA_CLASS": None,
    "URL_FORMAT_OVERRIDE": None,
    "DEFAULT_PAGINATION_CLASS": "monolith.api.pagination.ContractPagination",
    "PAGE_SIZE": 50,
    "DATETIME_FORMAT": "%Y-%m-%dT%H:%M:%S.%fZ",
    "EXCEPTION_HANDLER": "monolith.api.exception_handlers.contract_exception_handler",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "DEFAULT_SCHEMA_CLASS": "monolith.api.schema.ContractAutoSchema",
    # The token endpoint's throttles (monolith/identity/throttling.py): tries per minute from one
    # client address, and for one username.
    "DEFAULT_THROTTLE_RATES": {
        "token_client": os.environ.get("STRANGLER_TOKEN_RATE_CLIENT", "30/min"),
        "token_user": os.environ.get("STRANGLER_TOKEN_RATE_USER", "10/min"),
    },
    # Proxies in front of the monolith whose X-Forwarded-For names the client (the stack's proxy
    # replaces a client's own header with the peer's address); 0 when clients reach it directly.
    "NUM_PROXIES": int(os.environ.get("STRANGLER_PROXY_HOPS", "1")),
}

# The throttles' counts: a file cache, shared by every gunicorn worker without a server.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
        "LOCATION": str(VAR_DIR / "cache"),
    }
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Strangler Fig shop",
    "DESCRIPTION": "The monolith's HTTP API: the contract every extracted service is held to.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "PREPROCESSING_HOOKS": ["monolith.api.schema.only_the_public_api"],
    # /api/schema/swagger-ui/ loads Swagger UI from this process, not from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "monolith.request_ids.RequestIdLogFilter"}},
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(levelname)s %(name)s %(request_id)s %(message)s",
            "rename_fields": {"levelname": "level", "name": "logger"},
            "timestamp": True,
        }
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("DJANGO_LOG_LEVEL", "INFO")},
}
