"""Settings for each environment, read from the process environment.

Values flow one way: environment (and the `.env` file) -> these classes ->
the Flask app -> the Celery app. `APP_ENV` picks the class (`CONFIG_BY_NAME`
below). `.env.example` lists every variable. Tuning that a team has no
reason to change (time-outs against outages, JSON only) lives in
`app/platform/`.
"""

import os
from datetime import timedelta
from pathlib import Path

from dotenv import load_dotenv

from app.platform.settings import (
    DEVELOPMENT_SECRET_KEY,
    TESTING_SECRET_KEY,
    ConfigurationError,
    check_production_settings,
    check_settings,
)

PROJECT_DIR = Path(__file__).resolve().parent.parent

# Real environment variables win over the file: `override=False`.
load_dotenv(PROJECT_DIR / ".env", override=False)

__all__ = ["CONFIG_BY_NAME", "BaseConfig", "ConfigurationError"]


def env(name: str, default: str | None = None) -> str | None:
    """Read a variable; an empty one (`NAME=` in .env) counts as unset."""
    return os.environ.get(name, "").strip() or default


def env_bool(name: str, default: bool = False) -> bool:
    """Read a yes/no variable: "1", "true", "yes", "on" mean yes; "false" means no."""
    value = env(name)
    return default if value is None else value.lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    """Read a whole number, so that a typo fails at start-up, not at first use."""
    value = env(name)
    return default if value is None else int(value)


def env_list(name: str) -> list[str]:
    """Read a comma-separated list."""
    return [item.strip() for item in (env(name) or "").split(",") if item.strip()]


class BaseConfig:
    """Defaults shared by every environment; production-safe unless noted."""

    ENV_NAME = "base"
    PROJECT_NAME = {{ cookiecutter.project_name | python_string }}

    # Signs sessions, task ids and links in mail; earlier keys still verify
    # what they signed, so a key can be rotated without logging anyone out.
    # https://flask.palletsprojects.com/en/stable/config/#SECRET_KEY_FALLBACKS
    SECRET_KEY = env("SECRET_KEY")
    SECRET_KEY_FALLBACKS = env_list("SECRET_KEY_FALLBACKS")
    # The address users reach the app at: links in mail are built from it,
    # never from a request's Host header, which the client chooses.
    APP_BASE_URL = env("APP_BASE_URL")
    # The hosts you serve, comma-separated (and those your health checks
    # use, often an IP): a request for any other host gets 400. Unset: any.
    # https://flask.palletsprojects.com/en/stable/config/#TRUSTED_HOSTS
    TRUSTED_HOSTS = env_list("TRUSTED_HOSTS") or None
    # How many proxies in front set X-Forwarded-For and -Proto, so that rate
    # limits count the client's address, not the proxy's.
    # https://flask.palletsprojects.com/en/stable/deploying/proxy_fix/
    FORWARDED_PROXIES = env_int("FORWARDED_PROXIES", 0)

    # Bodies are small JSON documents and one-field forms.
    # https://flask.palletsprojects.com/en/stable/config/#MAX_CONTENT_LENGTH
    MAX_CONTENT_LENGTH = 64 * 1024
    # https://flask.palletsprojects.com/en/stable/security/#security-cookie
    SESSION_COOKIE_SECURE = True
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    # How long a sign-in lasts.
    PERMANENT_SESSION_LIFETIME = timedelta(days=env_int("SESSION_LIFETIME_DAYS", 14))

    # PostgreSQL in production (`postgresql://` URLs use psycopg 3).
    # https://flask-sqlalchemy.readthedocs.io/en/stable/config/
    SQLALCHEMY_DATABASE_URI = env("DATABASE_URL")
    # Web requests only: seconds a statement, or a wait for a lock, may take
    # before the request answers 503. Tasks get their own time limit, and
    # migrations no limit (app/platform/database.py).
    # https://www.postgresql.org/docs/current/runtime-config-client.html#GUC-STATEMENT-TIMEOUT
    DATABASE_STATEMENT_TIMEOUT = 5
    DATABASE_LOCK_TIMEOUT = 3
    # Seconds to open a connection before giving up.
    DATABASE_CONNECT_TIMEOUT = 3

    # Per-client limits, fit for anonymous endpoints: each task may hold a
    # worker for a while. "10/minute;100/hour" is Flask-Limiter's notation.
    # https://flask-limiter.readthedocs.io/en/stable/configuration.html#rate-limit-string-notation
    TASKS_RATE_LIMIT = env("TASKS_RATE_LIMIT", "10/minute;100/hour")
    # Posts of the account forms (registration, sign-in).
    REGISTER_RATE_LIMIT = env("REGISTER_RATE_LIMIT", "5/minute;20/hour")
    # A rate-limit store that is down lets requests through uncounted: the
    # broker's own 503 still protects the queue.
    RATELIMIT_SWALLOW_ERRORS = True
    # POST /tasks answers 503 while more tasks than this wait in the queue.
    TASK_QUEUE_LIMIT = env_int("TASK_QUEUE_LIMIT", 1000)

    # One confirmation message per address per this many minutes, and the
    # seconds its link stays valid.
    CONFIRMATION_RESEND_MINUTES = env_int("CONFIRMATION_RESEND_MINUTES", 15)
    CONFIRMATION_LINK_MAX_AGE = 2 * 24 * 60 * 60
    # Minutes a sign-in link works (once).
    LOGIN_LINK_MINUTES = env_int("LOGIN_LINK_MINUTES", 15)

    CELERY_BROKER_URL = env("CELERY_BROKER_URL")
{%- if cookiecutter.broker == "rabbitmq" %}
    # RabbitMQ carries the messages; Redis keeps the results that the status
    # endpoint polls (the RPC backend cannot be read by another process).
    CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", "redis://localhost:6379/0")
{%- else %}
    # One Redis holds both the queue and the results unless told otherwise.
    CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND")
{%- endif %}
{%- if cookiecutter.use_redis_sentinel %}
    # The name the Sentinels know the Redis master by, for sentinel:// URLs.
    CELERY_SENTINEL_MASTER = env("CELERY_SENTINEL_MASTER")
{%- endif %}
    # Redis: seconds before a task whose worker vanished goes to another
    # worker. POST /tasks refuses work that could run longer than this.
    # https://docs.celeryq.dev/en/stable/getting-started/backends-and-brokers/redis.html#visibility-timeout
    CELERY_VISIBILITY_TIMEOUT = env_int("CELERY_VISIBILITY_TIMEOUT", 3600)
    # A task handed out this many times (each try killed its worker process:
    # out of memory, a crash) fails instead of being handed out again.
    TASK_DELIVERY_LIMIT = env_int("TASK_DELIVERY_LIMIT", 5)
{%- if cookiecutter.use_celery_beat %}
    # Seconds between two heartbeats, the example periodic task.
    HEARTBEAT_SECONDS = env_int("HEARTBEAT_SECONDS", 60)
{%- endif %}

    # Handed to Celery as they are, on top of app/platform/celery.py's.
    # https://docs.celeryq.dev/en/stable/userguide/configuration.html
    CELERY = {
        # Task modules, imported by every worker (a task only beat or another
        # task sends is known to the worker all the same).
        "imports": [
            "app.tasks.email",
            "app.tasks.housekeeping",
{%- if cookiecutter.use_celery_beat %}
            "app.tasks.periodic",
{%- endif %}
            "app.tasks.progress",
        ],
        # Mail and other short tasks never wait behind long work: a worker
        # started without -Q serves both queues; -Q mail serves mail alone.
        # https://docs.celeryq.dev/en/stable/userguide/routing.html
        "task_default_queue": "celery",
        "task_routes": {"app.tasks.email.*": {"queue": "mail"}},
        # Each worker process reserves one task at a time, so that a long
        # task never holds queued work back while another process idles.
        # https://docs.celeryq.dev/en/stable/userguide/optimizing.html#prefetch-limits
        "worker_prefetch_multiplier": 1,
        # A runaway task is stopped instead of holding a worker forever; a
        # long task of the API gets limits of its own (app/forms/tasks.py).
        # https://docs.celeryq.dev/en/stable/userguide/workers.html#time-limits
        "task_soft_time_limit": 5 * 60,
        "task_time_limit": 6 * 60,
        # Results, progress and task ids live a day, and so does the history.
        "result_expires": 24 * 60 * 60,
        # A worker told to stop (SIGTERM) lets running tasks work on for this
        # long, then hands the rest back to the broker for another worker.
        # Keep your process manager's grace period above it.
        # https://docs.celeryq.dev/en/stable/userguide/workers.html#worker-soft-shutdown
        "worker_soft_shutdown_timeout": 5,
{%- if cookiecutter.use_celery_beat %}
        # Periodic tasks, sent by `python manage.py beat`.
        # https://docs.celeryq.dev/en/stable/userguide/periodic-tasks.html
        "beat_schedule": {
            "heartbeat": {
                "task": "app.tasks.periodic.heartbeat",
                "schedule": HEARTBEAT_SECONDS,
                # A heartbeat not run within its interval is dropped.
                "options": {"expires": HEARTBEAT_SECONDS},
            },
            "tidy-job-history": {
                "task": "app.tasks.housekeeping.tidy_job_history",
                "schedule": 60 * 60,
                "options": {"expires": 60 * 60},
            },
        },
{%- endif %}
    }

    # Error reports to Sentry when set; traces when the standard
    # OTEL_EXPORTER_OTLP_ENDPOINT is (app/platform/tracing.py); LOG_LEVEL and
    # LOG_FORMAT (text or json) are read by app/platform/logs.py.
    # https://docs.sentry.io/platforms/python/configuration/options/#dsn
    SENTRY_DSN = env("SENTRY_DSN")
    # GET /metrics asks for `Authorization: Bearer <token>` when set.
    METRICS_TOKEN = env("METRICS_TOKEN")

    # https://docs.python.org/3/library/smtplib.html
    MAIL_SERVER = env("MAIL_SERVER")
    MAIL_PORT = env_int("MAIL_PORT", 25)
    MAIL_USE_TLS = env_bool("MAIL_USE_TLS")
    MAIL_USE_SSL = env_bool("MAIL_USE_SSL")
    MAIL_USERNAME = env("MAIL_USERNAME")
    MAIL_PASSWORD = env("MAIL_PASSWORD")
    MAIL_DEFAULT_SENDER = env("MAIL_DEFAULT_SENDER", "noreply@localhost")
    # "smtp" sends mail, "log" writes it to the log (no MAIL_SERVER set).
    MAIL_BACKEND = "smtp" if MAIL_SERVER else "log"

    # Settings this environment cannot guess: setting -> its variable.
    REQUIRED_SETTINGS: dict[str, str] = {}

    @classmethod
    def check(cls, settings: dict) -> None:
        """Refuse to start on settings that could never work, naming them."""
        check_settings(cls, settings)


class DevelopmentConfig(BaseConfig):
    """Local work: debug on, and no server to install."""

    ENV_NAME = "development"
    DEBUG = True
    SECRET_KEY = env("SECRET_KEY", DEVELOPMENT_SECRET_KEY)
    APP_BASE_URL = env("APP_BASE_URL", "http://127.0.0.1:5000")
    SESSION_COOKIE_SECURE = False
    # With no broker configured, Celery keeps its queue and results in files
    # under instance/ (app/platform/celery.py).
    CELERY_BROKER_URL = env("CELERY_BROKER_URL", "filesystem://")
    # Room to click around the progress page.
    TASKS_RATE_LIMIT = env("TASKS_RATE_LIMIT", "60/minute")
    # With no DATABASE_URL, a SQLite file that `python manage.py dev` creates.
    SQLALCHEMY_DATABASE_URI = env("DATABASE_URL") or (
        f"sqlite:///{PROJECT_DIR / 'instance' / 'development.sqlite'}"
    )


class TestingConfig(BaseConfig):
    """The test suite: in-memory queue, mail kept in a list for assertions."""

    ENV_NAME = "testing"
    TESTING = True
    SECRET_KEY = TESTING_SECRET_KEY
    APP_BASE_URL = "http://localhost"
    SESSION_COOKIE_SECURE = False
    # Tests that count requests turn it on for themselves.
    RATELIMIT_ENABLED = False
    # Never the DATABASE_URL of .env: tests empty their tables.
    SQLALCHEMY_DATABASE_URI = env("TEST_DATABASE_URL") or "sqlite://"
    CELERY_BROKER_URL = "memory://"
    CELERY_RESULT_BACKEND = "cache+memory://"
    # Tests never mail anyone, whatever MAIL_SERVER the developer's .env sets.
    MAIL_BACKEND = "memory"


class ProductionConfig(BaseConfig):
    """Live traffic: every secret comes from the environment."""

    ENV_NAME = "production"
    # Browsers use HTTPS only for this site for a year: serve it behind TLS.
    # https://developer.mozilla.org/en-US/docs/Web/HTTP/Headers/Strict-Transport-Security
    STRICT_TRANSPORT_SECURITY = "max-age=31536000; includeSubDomains"
    REQUIRED_SETTINGS = {
        "SECRET_KEY": "SECRET_KEY",
        "CELERY_BROKER_URL": "CELERY_BROKER_URL",
        "SQLALCHEMY_DATABASE_URI": "DATABASE_URL",
        "APP_BASE_URL": "APP_BASE_URL",
    }

    @classmethod
    def check(cls, settings: dict) -> None:
        """Also refuse a short or published SECRET_KEY, an SMTP login in clear."""
        super().check(settings)
        check_production_settings(cls, settings)


class StagingConfig(ProductionConfig):
    """A production twin for rehearsals; it differs only in its name."""

    ENV_NAME = "staging"


CONFIG_BY_NAME: dict[str, type[BaseConfig]] = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "staging": StagingConfig,
    "production": ProductionConfig,
}
