"""Limits that keep one client, or a flood, from taking every worker.

Per-client rate limits come from Flask-Limiter, counted in the Redis that
holds the results (in memory where there is none: development, tests).
Back-pressure is ours: when more tasks wait in the queue than
`TASK_QUEUE_LIMIT`, `POST /tasks` answers 503 instead of queueing more.
"""

import time
from typing import Any
from urllib.parse import SplitResult, unquote, urlsplit

from celery import Celery
from flask import Flask, current_app
from flask_limiter import Limiter, RateLimitExceeded
from flask_limiter.util import get_remote_address
from limits import parse_many
from werkzeug.exceptions import ServiceUnavailable

from app.config import ConfigurationError, is_sentinel
from app.platform.celery import REDIS_SCHEMES, redis_timeouts, sentinel_kwargs
from app.platform.errors import http_error

SENTINEL_PORT = 26379
# The variables that hold per-client limits, such as "10/minute;100/hour".
RATE_LIMIT_SETTINGS = ("TASKS_RATE_LIMIT", "REGISTER_RATE_LIMIT")
# Seconds a queue length is trusted before it is read again: one broker
# round trip per second and web process, not one per request.
QUEUE_LENGTH_MAX_AGE = 1.0
# Seconds a client is asked to wait when the queue is full.
QUEUE_FULL_RETRY_AFTER = 10

# The client is the address that connected; behind a proxy, FORWARDED_PROXIES
# makes it the address the proxy saw (see app/__init__.py).
limiter = Limiter(key_func=get_remote_address)


def limits_init_app(app: Flask) -> None:
    """Check the limits, and count them in the results' Redis if there is one."""
    for name in RATE_LIMIT_SETTINGS:
        try:
            parse_many(app.config[name])
        except ValueError:
            raise ConfigurationError(
                f"{name}={app.config[name]!r} is not a rate limit such as "
                "'10/minute' or '10/minute;100/hour'."
            ) from None
    results = app.config["CELERY_RESULT_BACKEND"] or app.config["CELERY_BROKER_URL"]
    # Calls to the store give up as Celery's calls to Redis do.
    celery_settings = app.config["CELERY"]
    if results.startswith(REDIS_SCHEMES):
        app.config.setdefault("RATELIMIT_STORAGE_URI", results)
        app.config.setdefault(
            "RATELIMIT_STORAGE_OPTIONS", redis_timeouts(celery_settings)
        )
    elif is_sentinel(results):
        uri, options = sentinel_storage(
            results, app.config["CELERY_SENTINEL_MASTER"], celery_settings
        )
        app.config.setdefault("RATELIMIT_STORAGE_URI", uri)
        app.config.setdefault("RATELIMIT_STORAGE_OPTIONS", options)
    else:  # each process counts for itself
        app.config.setdefault("RATELIMIT_STORAGE_URI", "memory://")
    limiter.init_app(app)
    app.register_error_handler(RateLimitExceeded, too_many_requests)
    app.extensions["queue_gauge"] = QueueGauge()


def sentinel_storage(
    url: str, master: str, celery_settings: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    """The `limits` library's URI and options for Celery's `sentinel://` URL.

    Celery lists the Sentinels as `sentinel://h1:p1;sentinel://h2:p2`, the
    master's credentials and database in the first; `limits` wants
    `redis+sentinel://h1:p1,h2:p2/MASTER`. As kombu and Celery do, it asks
    the Sentinels without the master's credentials (limits would send them
    to both), and it reads the counts where it writes them: on the master.
    """
    parts = [urlsplit(part) for part in url.split(";")]
    hosts = ",".join(sentinel_address(part) for part in parts)
    first = parts[0]
    options: dict[str, Any] = {
        **redis_timeouts(celery_settings),
        "sentinel_kwargs": {
            **sentinel_kwargs(celery_settings),
            "username": None,
            "password": None,
        },
        "use_replicas": False,
        "db": int(first.path.strip("/") or 0),
    }
    if first.username:
        options["username"] = unquote(first.username)
    if first.password:
        options["password"] = unquote(first.password)
    return f"redis+sentinel://{hosts}/{master}", options


def sentinel_address(url: SplitResult) -> str:
    """`host:port` of one Sentinel; an IPv6 address in brackets."""
    host = url.hostname or "localhost"
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{url.port or SENTINEL_PORT}"


def tasks_rate_limit() -> str:
    return current_app.config["TASKS_RATE_LIMIT"]


def register_rate_limit() -> str:
    return current_app.config["REGISTER_RATE_LIMIT"]


def too_many_requests(error: RateLimitExceeded):
    """The 429 answer, with Retry-After: when the client may try again."""
    response = http_error(error)
    limit = limiter.current_limit
    wait = limit.reset_at - time.time() if limit else 60
    response.headers["Retry-After"] = str(max(1, round(wait)))
    return response


def refuse_when_queue_is_full() -> None:
    """503 with Retry-After when more than TASK_QUEUE_LIMIT tasks wait."""
    celery = current_app.extensions["celery"]
    waiting = current_app.extensions["queue_gauge"].waiting(celery)
    if waiting > current_app.config["TASK_QUEUE_LIMIT"]:
        raise ServiceUnavailable(
            "Too many tasks are waiting; try again shortly.",
            retry_after=QUEUE_FULL_RETRY_AFTER,
        )


class QueueGauge:
    """How many tasks wait in the default queue, read at most once a second."""

    def __init__(self) -> None:
        self.length, self.read_at = 0, float("-inf")

    def waiting(self, celery: Celery) -> int:
        if time.monotonic() - self.read_at > QUEUE_LENGTH_MAX_AGE:
            queue = celery.amqp.queues[celery.conf.task_default_queue]
            with celery.pool.acquire(block=True) as connection:
                # Declared with the worker's own arguments, which is harmless
                # and answers the message count on Redis and RabbitMQ alike.
                self.length = queue(connection.default_channel).queue_declare()[1]
            self.read_at = time.monotonic()
        return self.length
