"""Every error answer is JSON `{"error": "..."}`, never a traceback."""

import logging

from celery.exceptions import BackendError
from flask import Flask, jsonify
from kombu.exceptions import OperationalError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from werkzeug.exceptions import HTTPException

logger = logging.getLogger(__name__)

# What Celery and its clients raise when the broker or result store is down
# or hung (the socket timeouts in app/config.py turn a hang into one of these).
BROKER_ERRORS = (
    OperationalError,
    BackendError,
    RedisConnectionError,
    RedisTimeoutError,
)


def register_error_handlers(app: Flask) -> None:
    """Answer HTTP errors, broker outages and bugs with JSON."""
    app.register_error_handler(HTTPException, http_error)
    for error_class in BROKER_ERRORS:
        app.register_error_handler(error_class, broker_unavailable)
    app.register_error_handler(Exception, unexpected_error)


def http_error(error: HTTPException):
    return jsonify(error=error.description), error.code


def broker_unavailable(error: Exception):
    logger.warning("Task queue unavailable: %r", error)
    return jsonify(error="The task queue is unavailable; try again shortly."), 503


def unexpected_error(error: Exception):
    logger.exception("Unhandled error", exc_info=error)
    return jsonify(error="Internal server error."), 500
