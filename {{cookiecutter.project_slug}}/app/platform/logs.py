"""Logs: one setup for web and worker, each line tied to its request and task.

Every line has its time, level, logger and message; `LOG_FORMAT=json`
writes one JSON object a line instead (python-json-logger: a formatter of
the standard `logging`, so that Flask's, Celery's, gunicorn's and
SQLAlchemy's loggers all come out the same, with no change to how code
logs). `LOG_LEVEL` sets the level. gunicorn takes the setup from
gunicorn.conf.py, the worker and beat from Celery's `setup_logging` signal
(Celery then leaves logging alone), `manage.py` when it starts.

A request's id is the `X-Request-ID` a proxy sent (if short and plain),
else a new one; the answer carries it back, and so do the messages of the
tasks the request sends: each line the worker writes while it runs a task
names the request's id and the task's.
https://docs.python.org/3/library/logging.config.html#dictionary-schema-details
"""

import logging
import logging.config
import os
import re
import uuid
from typing import Any

from celery import current_task
from celery.signals import before_task_publish, setup_logging
from flask import Flask, Response, g, has_request_context, request

# A proxy's request id is taken as it is if it looks like one.
REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
REQUEST_ID_HEADER = "X-Request-ID"
# The message header a task's request id travels in.
TASK_REQUEST_ID = "request_id"

TEXT_FORMAT = (
    "%(asctime)s %(levelname)s %(name)s [%(request_id)s %(task_id)s] %(message)s"
)
JSON_FIELDS = (
    "%(asctime)s %(levelname)s %(name)s %(request_id)s %(task_id)s %(message)s"
)
JSON_NAMES = {"asctime": "time", "levelname": "level", "name": "logger"}


class RequestAndTask(logging.Filter):
    """Adds the ids of the request and the task at hand to each record."""

    def filter(self, record: logging.LogRecord) -> bool:
        task = current_task
        record.task_id = task.request.id if task else None
        if has_request_context():
            record.request_id = g.get("request_id")
        elif task:
            record.request_id = task.request.get(TASK_REQUEST_ID)
        else:
            record.request_id = None
        return True


def logging_config(level: str | None = None) -> dict[str, Any]:
    """The `dictConfig` of every process: LOG_LEVEL, else `level`, else INFO."""
    json_lines = os.environ.get("LOG_FORMAT", "text").strip().lower() == "json"
    formatter = (
        {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": JSON_FIELDS,
            "rename_fields": JSON_NAMES,
        }
        if json_lines
        else {"format": TEXT_FORMAT}
    )
    handler = {
        "class": "logging.StreamHandler",
        "formatter": "default",
        "filters": ["ids"],
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"ids": {"()": RequestAndTask}},
        "formatters": {"default": formatter},
        "handlers": {"default": handler},
        "root": {
            "handlers": ["default"],
            "level": (os.environ.get("LOG_LEVEL") or level or "INFO").upper(),
        },
        # gunicorn's own loggers write through the root handler.
        "loggers": {
            name: {"handlers": [], "propagate": True}
            for name in ("gunicorn.error", "gunicorn.access")
        },
    }


def configure_logging(level: str | None = None) -> None:
    logging.config.dictConfig(logging_config(level))


@setup_logging.connect
def configure_worker_logging(loglevel: str | None = None, **_: Any) -> None:
    """The worker's and beat's logging (Celery sets up none of its own)."""
    level = logging.getLevelName(loglevel) if isinstance(loglevel, int) else loglevel
    configure_logging(level)


def request_ids_init_app(app: Flask) -> None:
    """Give every request an id, and every answer the `X-Request-ID` header."""

    @app.before_request
    def take_request_id() -> None:
        sent = request.headers.get(REQUEST_ID_HEADER, "")
        g.request_id = sent if REQUEST_ID.match(sent) else uuid.uuid4().hex

    @app.after_request
    def give_request_id(response: Response) -> Response:
        # Set even if a hook before ours answered first.
        response.headers[REQUEST_ID_HEADER] = g.setdefault(
            "request_id", uuid.uuid4().hex
        )
        return response


@before_task_publish.connect
def send_request_id(headers: dict[str, Any], **_: Any) -> None:
    """The id of the request (or of the task) that sends a task goes with it."""
    if has_request_context() and "request_id" in g:
        headers.setdefault(TASK_REQUEST_ID, g.request_id)
    elif current_task and current_task.request.get(TASK_REQUEST_ID):
        headers.setdefault(TASK_REQUEST_ID, current_task.request.get(TASK_REQUEST_ID))
