"""Settings for each environment, read from the process environment.

Values flow one way: environment (and the `.env` file) -> these classes ->
the Flask app -> the Celery app. `APP_ENV` picks the class; see
`CONFIG_BY_NAME` below.
"""

import os
from pathlib import Path
from urllib.parse import urlsplit

from dotenv import load_dotenv

PROJECT_DIR = Path(__file__).resolve().parent.parent

# Real environment variables win over the file: `override=False`.
load_dotenv(PROJECT_DIR / ".env", override=False)


# Keys written in this file: fine for development and tests, refused in
# staging and production.
DEVELOPMENT_SECRET_KEY = "dev-only-not-secret"  # noqa: S105
TESTING_SECRET_KEY = "testing-only-not-secret"  # noqa: S105


# URL schemes Celery is given: a typo (`rabbitmq://`, `redis://host:port`)
# stops the app at start instead of failing every request.
# (`memory` and `cache+memory` are the testing config's stand-ins.)
BROKER_SCHEMES = (
    *("redis", "rediss", "sentinel", "amqp", "amqps", "pyamqp"),
    *("filesystem", "memory"),
)
RESULT_SCHEMES = ("redis", "rediss", "sentinel", "file", "cache+memory")


class ConfigurationError(RuntimeError):
    """A setting is missing or malformed; the message names its variable."""


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


class BaseConfig:
    """Defaults shared by every environment; production-safe unless noted."""

    ENV_NAME = "base"
    PROJECT_NAME = {{ cookiecutter.project_name | python_string }}
    SECRET_KEY = env("SECRET_KEY")

    # Request bodies are small JSON documents and one-field forms.
    # https://flask.palletsprojects.com/en/stable/config/#MAX_CONTENT_LENGTH
    MAX_CONTENT_LENGTH = 64 * 1024

    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"

    # PostgreSQL in production (postgresql:// URLs use psycopg 3, see
    # app/platform/database.py); SQLite serves development.
    # https://flask-sqlalchemy.readthedocs.io/en/stable/config/
    SQLALCHEMY_DATABASE_URI = env("DATABASE_URL")
    # Seconds before the database side gives up, so that a request answers
    # 503 instead of hanging and a worker is never stuck for good: opening a
    # connection, waiting for another transaction's lock, one statement.
    DATABASE_CONNECT_TIMEOUT = 3
    DATABASE_LOCK_TIMEOUT = 3
    DATABASE_STATEMENT_TIMEOUT = 5
    # Seconds PostgreSQL lets a session sit idle inside a transaction before
    # it ends the session: a client cut off mid-transaction (its host's link
    # down) would otherwise hold its locks until TCP notices, hours later.
    # Longer than any request (gunicorn's timeout is 30 s); a task must not
    # keep a transaction open while it works.
    DATABASE_IDLE_IN_TRANSACTION_TIMEOUT = 60

    # Per-client limits, in Flask-Limiter's notation ("10/minute;100/hour"),
    # fit for an anonymous endpoint: each task may hold a worker for hours.
    # https://flask-limiter.readthedocs.io/en/stable/configuration.html#rate-limit-string-notation
    TASKS_RATE_LIMIT = env("TASKS_RATE_LIMIT", "10/minute;100/hour")
    REGISTER_RATE_LIMIT = env("REGISTER_RATE_LIMIT", "5/minute;20/hour")
    # A rate-limit store that is down lets requests through uncounted: the
    # broker's own 503 still protects the queue.
    RATELIMIT_SWALLOW_ERRORS = True
    # When more tasks than this wait in the queue, POST /tasks answers 503.
    TASK_QUEUE_LIMIT = env_int("TASK_QUEUE_LIMIT", 1000)
    # How many proxies in front of the app set X-Forwarded-For and -Proto:
    # rate limits then count the client's address, not the proxy's.
    # https://flask.palletsprojects.com/en/stable/deploying/proxy_fix/
    FORWARDED_PROXIES = env_int("FORWARDED_PROXIES", 0)

    # Registration: one confirmation message per address per interval, and
    # how long its link stays valid.
    CONFIRMATION_RESEND_MINUTES = env_int("CONFIRMATION_RESEND_MINUTES", 15)
    CONFIRMATION_LINK_MAX_AGE = 2 * 24 * 60 * 60

    CELERY_BROKER_URL = env("CELERY_BROKER_URL")
    {%- if cookiecutter.broker == "rabbitmq" %}
    # RabbitMQ carries the messages; Redis keeps the results that the status
    # endpoint polls (the RPC backend cannot be read by another process).
    CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", "redis://localhost:6379/0")
    {%- else %}
    # One Redis holds both the queue and the results unless told otherwise.
    CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND")
    {%- endif %}
    # The name the Sentinels know the Redis master by, for `sentinel://`
    # URLs: broker, results and rate limits follow it when it fails over.
    # https://docs.celeryq.dev/en/stable/getting-started/backends-and-brokers/redis.html#configuration
    CELERY_SENTINEL_MASTER = env("CELERY_SENTINEL_MASTER")

{%- if cookiecutter.use_celery_beat %}
    # Seconds between two heartbeats, the example periodic task.
    HEARTBEAT_SECONDS = env_int("HEARTBEAT_SECONDS", 60)

{%- endif %}
    # Settings handed to Celery as they are; names follow Celery's docs:
    # https://docs.celeryq.dev/en/stable/userguide/configuration.html
    CELERY = {
        # JSON only: a worker that accepted pickle would run whatever a
        # message told it to.
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "result_accept_content": ["json"],
        "timezone": "UTC",
        "enable_utc": True,
        # No STARTED state: it costs a write per task (about 10% of throughput
        # measured); the walk reports PROGRESS as soon as it starts instead.
        "task_track_started": False,
        # Mail and other short tasks have a queue of their own, so that they
        # never wait behind long walks. A worker started without -Q serves
        # every queue; `-Q mail` serves mail alone, `-Q celery` the rest.
        # https://docs.celeryq.dev/en/stable/userguide/routing.html
        "task_default_queue": "celery",
        "task_routes": {"app.tasks.email.*": {"queue": "mail"}},
        # Each worker process reserves one task at a time, so a long task
        # never keeps queued work waiting on a busy worker while another
        # idles. Raising it to 4 (or 16) measured no gain, with or without
        # 5 ms of latency each way to the broker (no-op tasks, Redis and
        # RabbitMQ): the round trips each task makes limit throughput there.
        # For many short tasks across a network, add worker processes: on
        # Redis, more workers (each one's main process makes two round trips
        # per task, whatever its concurrency); on RabbitMQ, --concurrency.
        "worker_prefetch_multiplier": 1,
        # A runaway task is stopped instead of holding a worker forever;
        # long tasks pass their own limits (see app/views/tasks.py).
        "task_soft_time_limit": 5 * 60,
        "task_time_limit": 6 * 60,
        # Results (and progress) are kept for a day, then expire.
        "result_expires": 24 * 60 * 60,
        # A worker started before the broker waits for it instead of exiting.
        "broker_connection_retry_on_startup": True,
        # Fail fast when the broker or result store is down or hung, so that
        # a web request answers 503 within seconds instead of hanging: short
        # socket timeouts, and one retry when sending a task.
        # https://docs.celeryq.dev/en/stable/userguide/configuration.html#broker-transport-options
        "broker_connection_timeout": 2,
        "broker_transport_options": {
            "socket_timeout": 2,
            "socket_connect_timeout": 2,
            # Redis: a task taken by a worker that died is given to another
            # after this many seconds. Keep it above your longest task, or a
            # task still running is handed out a second time.
            # https://docs.celeryq.dev/en/stable/getting-started/backends-and-brokers/redis.html#visibility-timeout
            "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600),
            # Look for such tasks every 10 s; kombu's default looks every 100 s.
            "unacked_restore_throttle": 1,
            # RabbitMQ: sending a task waits for the broker to confirm it
            # has stored the message, so a 202 means the task is safe; a
            # message it refuses is an error (503), not lost in silence.
            # https://www.rabbitmq.com/docs/confirms#publisher-confirms
            "confirm_publish": True,
        },
        "redis_socket_timeout": 2,
        "redis_socket_connect_timeout": 2,
        "result_backend_transport_options": {"retry_policy": {"timeout": 2.0}},
        "task_publish_retry_policy": {
            "max_retries": 1,
            "interval_start": 0,
            "interval_step": 0.5,
            "interval_max": 0.5,
        },
{%- if cookiecutter.use_celery_beat %}
        "imports": ["app.tasks.periodic"],
        # Periodic tasks sent by `python manage.py beat`.
        # https://docs.celeryq.dev/en/stable/userguide/periodic-tasks.html
        "beat_schedule": {
            "heartbeat": {
                "task": "app.tasks.periodic.heartbeat",
                "schedule": HEARTBEAT_SECONDS,
                # Not run within one interval, a heartbeat is dropped: workers
                # back from an outage do not run the backlog all at once.
                "options": {"expires": HEARTBEAT_SECONDS},
            },
        },
{%- endif %}
    }

    # Seconds a stopping worker gives its running tasks (see CELERY_WORKER).
    WORKER_SOFT_SHUTDOWN_SECONDS = 5

    # Added to CELERY in worker processes only: a result the store cannot
    # take (Redis restarting) is written again and again, with back-off, for
    # about two minutes, instead of failing the task or leaving it PENDING.
    # Web requests keep failing fast (503): they are not retried.
    # https://docs.celeryq.dev/en/stable/userguide/configuration.html#result-backend-always-retry
    CELERY_WORKER = {
        "result_backend_always_retry": True,
        "result_backend_max_retries": 30,
        "result_backend_base_sleep_between_retries_ms": 100,
        "result_backend_max_sleep_between_retries_ms": 5000,
        # Soft shutdown: a worker told to stop (SIGTERM, see
        # app/platform/worker_shutdown.py)
        # lets its running tasks work on for this many seconds, so that mail
        # and other short tasks end, then hands back the ones still running
        # (walks start over on another worker) and exits. Keep the grace
        # period of your process manager above it (compose's
        # stop_grace_period, Kubernetes' terminationGracePeriodSeconds).
        # Celery waits the whole time if any task runs, however short.
        # https://docs.celeryq.dev/en/stable/userguide/workers.html#worker-soft-shutdown
        "worker_soft_shutdown_timeout": WORKER_SOFT_SHUTDOWN_SECONDS,
    }

    # RabbitMQ closes the channel of a consumer that holds a message longer
    # than its consumer_timeout (30 minutes unless its config says otherwise),
    # and the task goes to another worker: POST /tasks refuses longer work.
    # https://www.rabbitmq.com/docs/consumers#acknowledgement-timeout
    RABBITMQ_CONSUMER_TIMEOUT = 30 * 60

    MAIL_SERVER = env("MAIL_SERVER")
    MAIL_PORT = env_int("MAIL_PORT", 25)
    MAIL_USE_TLS = env_bool("MAIL_USE_TLS")
    MAIL_USE_SSL = env_bool("MAIL_USE_SSL")
    MAIL_USERNAME = env("MAIL_USERNAME")
    MAIL_PASSWORD = env("MAIL_PASSWORD")
    MAIL_DEFAULT_SENDER = env("MAIL_DEFAULT_SENDER", "noreply@localhost")
    # Where mail goes: "smtp" sends it, "log" writes it to the log.
    MAIL_BACKEND = "smtp" if MAIL_SERVER else "log"
    # Seconds to wait for the mail server before trying again later.
    MAIL_TIMEOUT = 10

    # Settings this environment cannot guess: setting -> its variable.
    REQUIRED_SETTINGS: dict[str, str] = {}

    @classmethod
    def check(cls, settings: dict) -> None:
        """Refuse to start without the settings this environment cannot
        guess, or with Celery URLs that could never work."""
        for name, variable in cls.REQUIRED_SETTINGS.items():
            if not settings.get(name):
                raise ConfigurationError(
                    f"{variable} is not set: APP_ENV={cls.ENV_NAME} needs it "
                    "(see .env.example)."
                )
        for variable, schemes in [
            ("CELERY_BROKER_URL", BROKER_SCHEMES),
            ("CELERY_RESULT_BACKEND", RESULT_SCHEMES),
        ]:
            check_url(variable, settings.get(variable), schemes)
            if is_sentinel(settings.get(variable)) and not settings.get(
                "CELERY_SENTINEL_MASTER"
            ):
                raise ConfigurationError(
                    f"CELERY_SENTINEL_MASTER is not set: {variable} is a "
                    "sentinel:// URL, which needs the master's name."
                )


def is_sentinel(url: str | None) -> bool:
    """A Redis reached through Sentinel (`sentinel://h1:p1;sentinel://h2:p2`)."""
    return bool(url) and url.startswith("sentinel://")


def check_url(variable: str, url: str | None, schemes: tuple[str, ...]) -> None:
    """A URL (or `;`-separated list) with a known scheme and a numeric port.

    The message names the variable and the scheme, never the URL: it may
    hold a password.
    """
    for part in url.split(";") if url else ():
        scheme, separator, _ = part.partition("://")
        if not separator or scheme not in schemes:
            known = ", ".join(f"{name}://" for name in schemes)
            raise ConfigurationError(
                f"{variable} must start with one of {known}; "
                f"it starts with {scheme + separator if separator else 'no scheme'!r}."
            )
        try:
            _ = urlsplit(part).port  # parsed on access
        except ValueError:
            raise ConfigurationError(
                f"{variable} has a port that is not a number."
            ) from None


class DevelopmentConfig(BaseConfig):
    """Local work: debug on, and no server needed for Celery."""

    ENV_NAME = "development"
    DEBUG = True
    SECRET_KEY = env("SECRET_KEY", DEVELOPMENT_SECRET_KEY)
    # With no broker configured, Celery keeps its queue and results in files
    # under instance/ (see app/platform/celery.py): nothing to install to start.
    CELERY_BROKER_URL = env("CELERY_BROKER_URL", "filesystem://")
    # Room to click around the demo page.
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
    SESSION_COOKIE_SECURE = True
    # Browsers use HTTPS only for this site for a year: serve it behind TLS.
    # https://developer.mozilla.org/en-US/docs/Web/HTTP/Headers/Strict-Transport-Security
    STRICT_TRANSPORT_SECURITY = "max-age=31536000; includeSubDomains"
    REQUIRED_SETTINGS = {
        "SECRET_KEY": "SECRET_KEY",
        "CELERY_BROKER_URL": "CELERY_BROKER_URL",
        "SQLALCHEMY_DATABASE_URI": "DATABASE_URL",
    }
    # Anyone who knows the key can forge sessions and task ids.
    MIN_SECRET_KEY_LENGTH = 32
    KNOWN_WEAK_SECRET_KEYS = frozenset(
        {DEVELOPMENT_SECRET_KEY, TESTING_SECRET_KEY, "changeme", "secret"}
    )

    @classmethod
    def check(cls, settings: dict) -> None:
        """Also refuse a short or well-known SECRET_KEY."""
        super().check(settings)
        key = settings["SECRET_KEY"]
        if len(key) < cls.MIN_SECRET_KEY_LENGTH or key in cls.KNOWN_WEAK_SECRET_KEYS:
            raise ConfigurationError(
                f"SECRET_KEY is too weak for APP_ENV={cls.ENV_NAME}: use at least "
                f"{cls.MIN_SECRET_KEY_LENGTH} random characters (see .env.example)."
            )


class StagingConfig(ProductionConfig):
    """A production twin for rehearsals; it differs only in its name."""

    ENV_NAME = "staging"


CONFIG_BY_NAME: dict[str, type[BaseConfig]] = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "staging": StagingConfig,
    "production": ProductionConfig,
}
