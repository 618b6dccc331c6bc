"""GET /metrics: the web tier's numbers in Prometheus's text format.

Requests by route, method and status, with their latency; tasks accepted
and refused (429, 503) by kind; the queue depth that TASK_QUEUE_LIMIT is
read against. Under gunicorn each worker process counts in files of its own
(prometheus_client's multiprocess mode, set up by gunicorn.conf.py) and the
process that answers adds them all up. With METRICS_TOKEN set, /metrics
answers only `Authorization: Bearer <token>` (Prometheus's
`authorization` scrape setting sends it); unset, it is open, as on a
private network. Workers: Flower's /metrics, or Celery's events.
https://prometheus.github.io/client_python/multiprocess/
"""

import hmac
import os
import time
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from werkzeug.exceptions import Unauthorized

REQUESTS = Counter(
    "http_requests", "HTTP requests answered", ["method", "route", "status"]
)
LATENCY = Histogram(
    "http_request_duration_seconds", "Time to answer", ["method", "route"]
)
TASKS_ACCEPTED = Counter("tasks_accepted", "Tasks accepted (202)", ["kind"])
TASKS_REFUSED = Counter("tasks_refused", "Tasks refused (429, 503)", ["kind", "status"])
QUEUE_DEPTH = Gauge(
    "task_queue_depth",
    "Tasks waiting in the default queue, as last read",
    multiprocess_mode="mostrecent",
)

bp = Blueprint("metrics", __name__)


def starts_tasks(kind: str) -> Callable:
    """Mark a view that starts tasks of `kind`: its answers count as tasks."""

    def mark(view: Callable) -> Callable:
        view.task_kind = kind
        return view

    return mark


def metrics_init_app(app: Flask) -> None:
    """Count every answer, and serve GET /metrics."""

    @app.before_request
    def start_clock() -> None:
        g.started_at = time.perf_counter()

    @app.after_request
    def count(response: Response) -> Response:
        route = request.url_rule.rule if request.url_rule else "unmatched"
        status = response.status_code
        REQUESTS.labels(request.method, route, status).inc()
        if "started_at" in g:
            seconds = time.perf_counter() - g.started_at
            LATENCY.labels(request.method, route).observe(seconds)
        view = app.view_functions.get(request.endpoint)
        kind = getattr(view, "task_kind", None)
        if kind and status == 202:
            TASKS_ACCEPTED.labels(kind).inc()
        elif kind and status in (429, 503):
            TASKS_REFUSED.labels(kind, status).inc()
        return response

    app.register_blueprint(bp)


@bp.get("/metrics")
def metrics() -> Response:
    require_token(current_app.config["METRICS_TOKEN"])
    return Response(generate_latest(registry()), content_type=CONTENT_TYPE_LATEST)


def require_token(token: str | None) -> None:
    if not token:
        return
    sent = request.headers.get("Authorization", "")
    if not hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
        raise Unauthorized("Send Authorization: Bearer <METRICS_TOKEN>.")


def registry() -> Any:
    """Every process's numbers under gunicorn; this process's otherwise."""
    if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        return REGISTRY
    collected = CollectorRegistry()
    multiprocess.MultiProcessCollector(collected)
    return collected
