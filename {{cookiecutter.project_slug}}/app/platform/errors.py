"""Error answers: JSON `{"error": ...}` for the API, an HTML page for pages.

Bugs are not caught here: in debug mode the debugger shows them, tests see
the exception itself, and in production Flask logs the traceback and
answers a plain 500 through `http_error`.
"""

import json
import logging

from amqp.exceptions import MessageNacked
from celery.exceptions import BackendError
from flask import Flask, render_template, request
from kombu.exceptions import OperationalError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy import exc as sql
from werkzeug.exceptions import HTTPException, ServiceUnavailable

logger = logging.getLogger(__name__)

# Paths of the JSON API; everything else is a page for people.
API_PATHS = ("/tasks", "/healthz", "/openapi.json", "/metrics")

# What Celery and its clients raise when the broker or result store is down
# or hung (the socket timeouts in app/config.py turn a hang into one of these),
# or when RabbitMQ refuses a message (publisher confirms, app/config.py).
BROKER_ERRORS = (
    MessageNacked,
    OperationalError,
    BackendError,
    RedisConnectionError,
    RedisTimeoutError,
)
# What SQLAlchemy raises when the database is down, or a statement ran into
# the statement or lock timeout (app/platform/database.py), or no pooled connection
# was free in time.
DATABASE_ERRORS = (sql.OperationalError, sql.InterfaceError, sql.TimeoutError)
# Seconds a client is asked to wait before trying again after a 503.
RETRY_AFTER = 5


def register_error_handlers(app: Flask) -> None:
    """Answer HTTP errors and outages of the broker or the database."""
    app.register_error_handler(HTTPException, http_error)
    for error_class in BROKER_ERRORS:
        app.register_error_handler(error_class, unavailable("task queue"))
    for error_class in DATABASE_ERRORS:
        app.register_error_handler(error_class, unavailable("database"))
    app.register_error_handler(RuntimeError, result_store_gave_up)


def http_error(error: HTTPException):
    """The error as JSON or as a page; its headers (`Allow`, ...) are kept."""
    response = error.get_response()
    if request.path.startswith(API_PATHS):
        response.set_data(json.dumps({"error": error.description}))
        response.content_type = "application/json"
    else:
        response.set_data(render_template("error.html", error=error))
        response.content_type = "text/html; charset=utf-8"
    return response


def result_store_gave_up(error: RuntimeError):
    """Celery's Redis result store, out of reconnection tries (sending a task
    subscribes to its result), raises a RuntimeError from the connection
    error: an outage like the others. Any other RuntimeError is a bug."""
    if isinstance(error.__cause__, BROKER_ERRORS):
        return unavailable("task queue")(error)
    raise error


def unavailable(service: str):
    """A handler answering 503 for an outage of `service`, with Retry-After."""

    def handler(error: Exception):
        logger.warning("The %s is unavailable: %r", service, error)
        return http_error(
            ServiceUnavailable(
                f"The {service} is unavailable; try again shortly.",
                retry_after=RETRY_AFTER,
            )
        )

    return handler
