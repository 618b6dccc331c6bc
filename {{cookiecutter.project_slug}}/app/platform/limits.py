"""Limits that keep one client, or a flood, from taking every worker.

Per-client rate limits come from Flask-Limiter, counted in the Redis that
holds the results (in memory where there is none: development, tests).
Back-pressure is ours: when more tasks wait in the queue than
`TASK_QUEUE_LIMIT`, `POST /tasks` answers 503 instead of queueing more.
"""

import functools
import logging
import time

from celery import Celery
from flask import Flask, current_app, request
from flask_limiter import Limiter, RateLimitExceeded
from flask_limiter.util import get_remote_address
from werkzeug.exceptions import ServiceUnavailable

from app.platform.celery import REDIS_SCHEMES, redis_timeouts
from app.platform.errors import http_error
from app.platform.metrics import QUEUE_DEPTH
{%- if cookiecutter.use_redis_sentinel %}
from app.platform.sentinel import is_sentinel, rate_limit_storage
{%- endif %}

logger = logging.getLogger(__name__)

# Seconds a queue length is trusted before it is read again: one broker
# round trip per second and web process, not one per request.
QUEUE_LENGTH_MAX_AGE = 1.0
# Seconds a client is asked to wait when the queue is full.
QUEUE_FULL_RETRY_AFTER = 10
# Seconds to wait for a pooled broker connection.
BROKER_TIMEOUT = 2

# The client is the address that connected; behind a proxy, FORWARDED_PROXIES
# makes it the address the proxy saw (see app/__init__.py).
limiter = Limiter(key_func=get_remote_address)


def limits_init_app(app: Flask) -> None:
    """Count the limits in the results' Redis if there is one."""
    results = app.config["CELERY_RESULT_BACKEND"] or app.config["CELERY_BROKER_URL"]
    # Calls to the store give up as Celery's calls to Redis do.
    timeouts = redis_timeouts(app.extensions["celery"].conf)
    if results.startswith(REDIS_SCHEMES):
        app.config.setdefault("RATELIMIT_STORAGE_URI", results)
        app.config.setdefault("RATELIMIT_STORAGE_OPTIONS", timeouts)
{%- if cookiecutter.use_redis_sentinel %}
    elif is_sentinel(results):
        uri, options = rate_limit_storage(
            results, app.config["CELERY_SENTINEL_MASTER"], timeouts
        )
        app.config.setdefault("RATELIMIT_STORAGE_URI", uri)
        app.config.setdefault("RATELIMIT_STORAGE_OPTIONS", options)
{%- endif %}
    else:  # each process counts for itself
        app.config.setdefault("RATELIMIT_STORAGE_URI", "memory://")
    limiter.init_app(app)
    app.register_error_handler(RateLimitExceeded, too_many_requests)
    app.extensions["queue_gauge"] = QueueGauge()
    if not app.config["FORWARDED_PROXIES"]:
        app.before_request(warn_of_an_unknown_proxy)


def warn_of_an_unknown_proxy() -> None:
    """Say once per process that a proxy's clients share one rate limit.

    With FORWARDED_PROXIES=0 the client is the address that connected: behind
    a proxy, that is the proxy's, and every user counts against one limit.
    """
    if "X-Forwarded-For" in request.headers:
        warn_once_of_a_proxy()


@functools.cache
def warn_once_of_a_proxy() -> None:
    logger.warning(
        "Requests arrive with X-Forwarded-For while FORWARDED_PROXIES=0: rate "
        "limits count the proxy, not its clients. Set FORWARDED_PROXIES to the "
        "number of proxies in front of the app."
    )


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
            self.length = self.read(celery)
            self.read_at = time.monotonic()
            QUEUE_DEPTH.set(self.length)
        return self.length

    @staticmethod
    def read(celery: Celery) -> int:
        """Ask the broker, through a connection of the pool tasks are sent with."""
        queue = celery.amqp.queues[celery.conf.task_default_queue]
        with celery.pool.acquire(block=True, timeout=BROKER_TIMEOUT) as connection:
            # Declared with the worker's own arguments, which is harmless and
            # answers the message count on Redis and RabbitMQ alike.
            return queue(connection.default_channel).queue_declare()[1]
