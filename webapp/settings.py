"""Settings of the web app and its Celery workers, read from the environment here and nowhere else.

Every setting has a default that runs the embedded demo on a fresh machine (SQLite, a broker made of
files) except the secret: outside DEBUG a missing DJANGO_SECRET_KEY stops the process at start-up
rather than signing sessions with a known key. A malformed value names its variable.
"""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    if raw.strip().lower() in _TRUE:
        return True
    if raw.strip().lower() in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r}: expected one of 1/0, true/false, yes/no, on/off")


def _env_number(name: str, default: float, kind: type = float, minimum: float = 0) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r}: expected {'an integer' if kind is int else 'a number'}") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name}={raw!r}: must be at least {minimum}")
    return value


def _env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def _database(url: str | None, data_dir: Path) -> dict[str, object]:
    if not url:
        return _sqlite(data_dir / "webapp.sqlite3")
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        # As dj-database-url reads it: sqlite:///relative.sqlite3, sqlite:////absolute/path.sqlite3
        path = unquote(parts.path)[1:]
        if not path:
            raise ImproperlyConfigured("DATABASE_URL: sqlite:///PATH needs the database file's path")
        return _sqlite(Path(path).resolve())
    if parts.scheme in ("postgres", "postgresql"):
        name = unquote(parts.path.lstrip("/"))
        if not name:
            raise ImproperlyConfigured("DATABASE_URL: postgresql://USER@HOST:PORT/NAME needs the database NAME")
        return {
            # Django's, with a health check that reads the socket rather than sending SELECT 1 (webapp.postgresql).
            "ENGINE": "webapp.postgresql",
            "NAME": name,
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "",
            "PORT": str(parts.port or ""),
            # A database host that drops packets fails a request (and /health/) in seconds, not in the minutes
            # of TCP's retries; ?connect_timeout=N in the URL overrides it.
            "OPTIONS": {"connect_timeout": 10, **dict(parse_qsl(parts.query))},
            "CONN_MAX_AGE": _env_number("DATABASE_CONN_MAX_AGE", 0, int),
            "CONN_HEALTH_CHECKS": True,
        }
    raise ImproperlyConfigured(
        f"DATABASE_URL: unsupported scheme {parts.scheme!r}; use postgresql://USER:PASSWORD@HOST:PORT/NAME "
        "or sqlite:////absolute/path.sqlite3"
    )


def _sqlite(path: Path) -> dict[str, object]:
    path.parent.mkdir(parents=True, exist_ok=True)
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": path,
        "OPTIONS": {
            # The worker writes progress while the dashboard reads it: WAL lets readers run beside the
            # writer, and IMMEDIATE transactions take the write lock up front, which is what makes a
            # claim on SQLite exclusive (select_for_update is a no-op there).
            "init_command": "PRAGMA journal_mode=WAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
        },
    }


DEBUG = _env_bool("DJANGO_DEBUG", False)
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is required unless DJANGO_DEBUG=1; generate one with: "
            "python -c 'import secrets; print(secrets.token_urlsafe(50))'"
        )
    SECRET_KEY = "django-insecure-debug-only"
ALLOWED_HOSTS = _env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = _env_list("DJANGO_CSRF_TRUSTED_ORIGINS", "")

# HTTPS. TLS ends at the reverse proxy in front (deploy/nginx), which says so in X-Forwarded-Proto (it sets
# the header itself, so a client cannot). Off by default: the demo and a first start run on plain HTTP.
_https = _env_bool("DJANGO_SECURE_SSL", False)
SECURE_SSL_REDIRECT = _https
SESSION_COOKIE_SECURE = _https
CSRF_COOKIE_SECURE = _https
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if _https else None
# Health probes (containers, load balancers) speak plain HTTP to the process itself.
SECURE_REDIRECT_EXEMPT = [r"^health/$"]
SECURE_HSTS_SECONDS = _env_number("DJANGO_HSTS_SECONDS", 0, int)
if SECURE_HSTS_SECONDS and not _https:
    # The header goes out on HTTPS responses only: without DJANGO_SECURE_SSL no request is seen as secure.
    raise ImproperlyConfigured("DJANGO_HSTS_SECONDS needs DJANGO_SECURE_SSL=1 (HSTS is sent over HTTPS only)")
SECURE_HSTS_INCLUDE_SUBDOMAINS = _env_bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = _env_bool("DJANGO_HSTS_PRELOAD", False)

# State of this installation: the SQLite file and the file broker live here by default.
DATA_DIR = Path(os.environ.get("WEBAPP_DATA_DIR") or BASE_DIR / "var" / "webapp").resolve()
# Run folders, checkpoints, sample grids and image pools. With the local store (the default) web and workers must
# see the same files (one machine, or a shared mount); the database stores paths relative to this folder so that
# each machine may mount it where it likes.
ARTIFACTS_DIR = Path(os.environ.get("ARTIFACTS_DIR") or DATA_DIR / "artifacts").resolve()
# Or the artifacts live in a bucket of an S3-compatible service (runs.artifact_store), for hosts that share no file
# system: ARTIFACTS_DIR is then each host's working copy. Credentials and, without ARTIFACTS_S3_REGION, the region
# come the standard AWS way (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION, a profile, a role).
ARTIFACTS_STORE = os.environ.get("ARTIFACTS_STORE", "local").strip().lower() or "local"
ARTIFACTS_S3_BUCKET = os.environ.get("ARTIFACTS_S3_BUCKET", "").strip()
ARTIFACTS_S3_ENDPOINT_URL = os.environ.get("ARTIFACTS_S3_ENDPOINT_URL", "").strip()
ARTIFACTS_S3_PREFIX = os.environ.get("ARTIFACTS_S3_PREFIX", "").strip().strip("/")
ARTIFACTS_S3_REGION = os.environ.get("ARTIFACTS_S3_REGION", "").strip()
# Tries of one request, the first included, before an operation fails (botocore's standard retries, with backoff).
ARTIFACTS_S3_MAX_ATTEMPTS = _env_number("ARTIFACTS_S3_MAX_ATTEMPTS", 5, int, minimum=1)
if ARTIFACTS_STORE not in ("local", "s3"):
    raise ImproperlyConfigured(f"ARTIFACTS_STORE={ARTIFACTS_STORE!r}: expected local or s3")
if ARTIFACTS_STORE == "s3" and not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", ARTIFACTS_S3_BUCKET):
    raise ImproperlyConfigured(
        f"ARTIFACTS_S3_BUCKET={ARTIFACTS_S3_BUCKET!r}: ARTIFACTS_STORE=s3 needs a bucket name "
        "(3 to 63 lower-case letters, digits, dots and hyphens)"
    )
if ARTIFACTS_S3_ENDPOINT_URL and not re.fullmatch(r"https?://[^/\s]+/?", ARTIFACTS_S3_ENDPOINT_URL):
    raise ImproperlyConfigured(
        f"ARTIFACTS_S3_ENDPOINT_URL={ARTIFACTS_S3_ENDPOINT_URL!r}: expected http(s)://HOST[:PORT] "
        "(blank for AWS itself)"
    )
if ARTIFACTS_S3_PREFIX and any(part in (".", "..", "") for part in ARTIFACTS_S3_PREFIX.split("/")):
    raise ImproperlyConfigured(f"ARTIFACTS_S3_PREFIX={ARTIFACTS_S3_PREFIX!r}: folders of the bucket, no '.' or '..'")

DATABASES = {"default": _database(os.environ.get("DATABASE_URL"), DATA_DIR)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    # Django's admin with the project's site (webapp.staff.site): the second factor and the configurable path.
    "webapp.staff.apps.StaffAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "axes",
    "webapp.staff",
    "runs",
    "annotation",
    # The project itself: the whole lab's commands (manage.py demo) and the vendored JavaScript (htmx, uPlot) in
    # webapp/static, served from here because browsers may have no route to a CDN.
    "webapp",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # A view that meets a database or Redis being restarted answers 503 with Retry-After, not 500.
    "webapp.outage.OutageMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # /health/ is answered here, before CommonMiddleware checks the Host header: probes come by address.
    "webapp.health.HealthMiddleware",
    "django.middleware.common.CommonMiddleware",
    # The annotator's JSON API is answered here: what follows serves the staff (sessions' users, CSRF, logins).
    "annotation.middleware.AnnotatorApiMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # With DJANGO_STAFF_2FA, a login without its second factor is no login at all, on every page.
    "webapp.staff.middleware.SecondFactorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Turns a locked-out login into its 429 page; it looks at nothing else (annotators' pages pass untouched).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "webapp.urls"
WSGI_APPLICATION = "webapp.wsgi.application"
ASGI_APPLICATION = "webapp.asgi.application"

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

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "admin:login"
# Axes first: a locked-out account or address is refused before its password is even checked.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT") or DATA_DIR / "static").resolve()
# Behind nginx, static files are cached for a year (deploy/nginx): collectstatic must then name each file by a
# hash of its content, so that a changed file is a new URL. Off by default: pages then need no collectstatic.
if _env_bool("DJANGO_STATIC_MANIFEST", False):
    STORAGES = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"},
    }

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # One handler, on the root logger, in Celery's format: a worker's lines and ours print once each.
    "formatters": {"plain": {"format": "[%(asctime)s: %(levelname)s/%(processName)s] %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {"webapp": {"level": os.environ.get("WEBAPP_LOG_LEVEL", "INFO")}},
}

# --- Training runs -------------------------------------------------------------------------------
# Flower's address, when one runs beside the workers: the dashboard's workers page links to it.
FLOWER_URL = os.environ.get("FLOWER_URL", "")
# A trainer renews its lease on the run's row this often; that round trip is also where it learns of
# a cancellation, so this bounds how long a cancel takes to be honoured.
RUN_HEARTBEAT_SECONDS = _env_number("RUN_HEARTBEAT_SECONDS", 2.0, minimum=0.1)
# A lease not renewed for this long belongs to a dead worker: a re-delivered task or the recovery
# sweep may take the run over and resume it from its last checkpoint.
RUN_LEASE_SECONDS = _env_number("RUN_LEASE_SECONDS", 60.0, minimum=1)
if RUN_LEASE_SECONDS <= 2 * RUN_HEARTBEAT_SECONDS:
    raise ImproperlyConfigured("RUN_LEASE_SECONDS must exceed twice RUN_HEARTBEAT_SECONDS, or live runs look dead")
# Claims a run may take, after a launch or a resume, before it is failed instead of retried: a run
# that kills its worker every time (out of memory, say) must not loop for ever.
RUN_MAX_ATTEMPTS = _env_number("RUN_MAX_ATTEMPTS", 5, int, minimum=1)

# --- Celery ----------------------------------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_RESULT_BACKEND = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # A message not acknowledged within this time is delivered again. Training runs last longer,
        # so a live run does receive its task twice: the claim on the run's row makes that a no-op.
        "visibility_timeout": _env_number("CELERY_VISIBILITY_TIMEOUT", 3600),
        # Each worker looks for expired messages this often (one small sorted-set query).
        "unacked_restore_interval": _env_number("CELERY_RESTORE_INTERVAL", 10, int, minimum=1),
        "unacked_restore_throttle": 1,
        # Separates installations (or test sessions) that share one Redis.
        "global_keyprefix": os.environ.get("CELERY_KEY_PREFIX", ""),
    }
else:
    # No Redis: a broker of plain files that a real worker process still consumes. It loses the
    # message of a killed worker; the recovery sweep (beat) re-queues such a run from its lease.
    _broker = DATA_DIR / "broker"
    CELERY_BROKER_URL = "filesystem://localhost//"
    CELERY_BROKER_TRANSPORT = "webapp.file_broker:Transport"  # kombu's, with messages renamed into place
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker / "queue"),
        "data_folder_out": str(_broker / "queue"),
        "control_folder": str(_broker / "control"),
        "processed_folder": str(_broker / "processed"),
    }
    # Whichever process sends the first message (web or worker) finds its folders there.
    for _folder in ("queue", "control", "processed"):
        (_broker / _folder).mkdir(parents=True, exist_ok=True)
    CELERY_RESULT_BACKEND = None  # results go to the database; no Redis, no backend

CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# Outcomes go to the database; nothing reads the result backend.
CELERY_TASK_IGNORE_RESULT = True
# Training holds a GPU for hours: it has a queue of its own, consumed by one-task-per-GPU workers.
CELERY_TASK_ROUTES = {
    "runs.train_run": {"queue": "gpu"},
    "runs.train_domain_classifier": {"queue": "gpu"},
}
CELERY_TASK_DEFAULT_QUEUE = "cpu"
# Acknowledge after the task ends, so that a worker lost mid-run leaves its message to be delivered again.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# One task per worker slot: a GPU worker must not reserve the next run while it trains this one.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# No time limit: a training run may last days, and cancellation is the run's own state.
CELERY_TASK_TIME_LIMIT = None
CELERY_TASK_SOFT_TIME_LIMIT = None
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A task sent while Redis restarts waits up to about 30 s for it to come back: its row is committed before the
# message goes, so a message given up on leaves a run or pool queued with nothing to run it
# (bench/faults/redis_restart.py). Celery's own policy gives up after about a second.
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 32, "interval_start": 0, "interval_step": 0.5, "interval_max": 1}
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "recover-stale-runs": {"task": "runs.recover_stale_runs", "schedule": RUN_LEASE_SECONDS},
}

# --- Cache (rate limits of the annotators' pages) ----------------------------------------------------
# Shared by every web process through Redis when there is one; per process otherwise.
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    if REDIS_URL
    else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
}

# --- Human studies -----------------------------------------------------------------------------------
# Posts (consent, answers, finish) one client address may make per minute, over all its annotators.
ANNOTATION_RATE_LIMIT = _env_number("ANNOTATION_RATE_LIMIT", 300, int, minimum=1)
# An assignment's next answer is refused (429) sooner than this after its previous one: no person is faster.
ANNOTATION_MIN_ANSWER_MS = _env_number("ANNOTATION_MIN_ANSWER_MS", 150, int)
# Images drawn for an assignment stay reserved this long after its last answer, then go back to others.
ANNOTATION_RESERVATION_MINUTES = _env_number("ANNOTATION_RESERVATION_MINUTES", 120, minimum=1)
# Reverse proxies in front of the web process (deploy/nginx: 1): the client's address is that many entries
# from the right of X-Forwarded-For. 0 trusts no header and uses the connection's address.
ANNOTATION_PROXY_COUNT = _env_number("ANNOTATION_PROXY_COUNT", 0, int)
# Where a pilot of simulated observers reaches the site (the Celery worker's view of it, e.g. http://web:8000);
# blank: the admin's pilot takes the address of the request that started it.
ANNOTATION_SIMULATION_BASE_URL = os.environ.get("ANNOTATION_SIMULATION_BASE_URL", "")

# --- Staff accounts: the admin and the dashboard on a public host (deploy/README.md, "Security") -------------
_PUBLIC_PREFIXES = {"s", "studies", "runs", "static", "health"}


def _admin_path(raw: str) -> str:
    path = raw.strip().strip("/")
    if not re.fullmatch(r"[A-Za-z0-9._~-]+(/[A-Za-z0-9._~-]+)*", path):
        raise ImproperlyConfigured(f"DJANGO_ADMIN_PATH={raw!r}: expected a URL path such as admin/ or lab-staff/")
    if path.split("/")[0] in _PUBLIC_PREFIXES:
        raise ImproperlyConfigured(f"DJANGO_ADMIN_PATH={raw!r}: /{path.split('/')[0]}/ is the site's own")
    return path + "/"


ADMIN_PATH = _admin_path(os.environ.get("DJANGO_ADMIN_PATH", "admin/"))
# Staff log in with a password and a code of their authenticator app (or a recovery code): webapp/staff.
STAFF_2FA = _env_bool("DJANGO_STAFF_2FA", False)
OTP_TOTP_ISSUER = "Visual Turing Lab"
# Annotators' sessions (an invitation link's visitor resumes by theirs: annotation.views) last Django's two weeks; a
# staff login lasts this long without a request that changes its session. A password change ends every other
# session of its user (Django's session hash).
SESSION_COOKIE_AGE = 14 * 24 * 3600
STAFF_SESSION_SECONDS = int(60 * _env_number("DJANGO_STAFF_SESSION_MINUTES", 480, minimum=1))
if STAFF_SESSION_SECONDS >= SESSION_COOKIE_AGE:
    raise ImproperlyConfigured("DJANGO_STAFF_SESSION_MINUTES must be shorter than annotators' sessions (two weeks)")

# Failed logins (django-axes): this many failures lock the account (whatever the address) and, apart, the address
# (whatever the account), each for the cool-off after its last failure; 0 minutes: until a superuser unlocks it.
AXES_FAILURE_LIMIT = _env_number("DJANGO_LOGIN_FAILURE_LIMIT", 20, int, minimum=1)
_cool_off = _env_number("DJANGO_LOGIN_COOLOFF_MINUTES", 30)
AXES_COOLOFF_TIME = timedelta(minutes=_cool_off) if _cool_off else None
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
# The address the annotators' limit counts: the connection's, or the one ANNOTATION_PROXY_COUNT proxies vouch for.
AXES_CLIENT_IP_CALLABLE = "annotation.ratelimit.client_address"
# Every failure with its address, username and time, in the admin beside the lockouts.
AXES_ENABLE_ACCESS_FAILURE_LOG = True
# Masked, as the password is, in the posts axes keeps; its log lines name the account and the address.
AXES_SENSITIVE_PARAMETERS = ["otp_token"]
