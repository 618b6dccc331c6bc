"""A second yardstick: bare Flask doing the baked app's per-request duties by hand.

`bare_web.py` does the SQL and Redis work of the task API and nothing else.
The baked app also keeps promises on every `POST /tasks`: a body declared
as JSON, a request from the app's own site, a per-client rate limit counted
in Redis, a database connection checked before use, a session cookie naming
the task's owner, a signed task id that names its owner (checked again on
every poll), the body's options read, security headers and a request id on
every answer, and the request counted for GET /metrics. This app does the
same work in the fewest lines, with the same libraries underneath
(`limits`' fixed window in the same Redis, psycopg, itsdangerous, Flask's
session, prometheus_client), but none of the extensions that organise it.
Template / this app is the price of the project's structure; this app /
bare is the price of the promises.
"""

import base64
import hashlib
import json
import os
import time
import uuid
from datetime import datetime, timezone
from functools import cache
from secrets import token_urlsafe
from urllib.parse import urlsplit

import psycopg
from bare_web import INSERT, OPTIONS, SOFT_TIME_LIMIT, TIME_LIMIT, celery, database_url
from flask import Flask, Response, abort, g, jsonify, request, session
from itsdangerous import BadSignature, TimestampSigner
from limits import parse
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter
from prometheus_client import CollectorRegistry, Counter, Histogram
from psycopg.types.json import Json

app = Flask(__name__)
app.secret_key = os.environ["SECRET_KEY"]
signer = TimestampSigner(app.secret_key)
# Flask-Limiter's default strategy, over the same Redis, at the same limit.
rate_limiter = FixedWindowRateLimiter(
    storage_from_string(os.environ["BENCH_REDIS_URL"])
)
TASKS_RATE_LIMIT = parse(os.environ["TASKS_RATE_LIMIT"])
# The baked app's headers (app/platform/security.py), without HSTS (not asked for).
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; frame-ancestors 'none'; base-uri 'self'; "
        "form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}
# The result store keeps a result a day (Celery's default): ids live as long.
ID_MAX_AGE = 24 * 3600


@cache
def database() -> psycopg.Connection:
    """This process's connection: each statement commits itself, as the
    baked app's INSERT of a job does."""
    return psycopg.connect(database_url, autocommit=True)


# The baked app's numbers for GET /metrics (multiprocess under gunicorn), in
# a registry of their own: gunicorn.conf.py has imported the baked app's.
METRICS = CollectorRegistry()
REQUESTS = Counter(
    "http_requests", "Requests", ["method", "route", "status"], registry=METRICS
)
LATENCY = Histogram(
    "http_request_duration_seconds", "Latency", ["method", "route"], registry=METRICS
)
ACCEPTED = Counter("tasks_accepted", "Tasks accepted", ["kind"], registry=METRICS)


@app.before_request
def take_request_id() -> None:
    g.request_id = request.headers.get("X-Request-ID") or uuid.uuid4().hex
    g.started_at = time.perf_counter()


@app.after_request
def add_headers_and_count(response: Response) -> Response:
    response.headers.update(SECURITY_HEADERS)
    response.headers["X-Request-ID"] = g.request_id
    route = request.url_rule.rule if request.url_rule else "unmatched"
    REQUESTS.labels(request.method, route, response.status_code).inc()
    LATENCY.labels(request.method, route).observe(time.perf_counter() - g.started_at)
    if response.status_code == 202:
        ACCEPTED.labels("long_task").inc()
    return response


def owner_tag(client_id: str) -> str:
    digest = hashlib.blake2s(f"client:{client_id}".encode(), digest_size=8).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def refuse_cross_site() -> None:
    """The baked app's check: another site's page may not start tasks."""
    origin = request.headers.get("Origin")
    if request.headers.get("Sec-Fetch-Site") == "cross-site" or (
        origin is not None and urlsplit(origin).netloc != request.host
    ):
        abort(403)


@app.post("/tasks")
def start_task():
    refuse_cross_site()
    body = request.get_data()
    if body and not request.is_json:
        abort(415)
    if not rate_limiter.hit(TASKS_RATE_LIMIT, "tasks", request.remote_addr or ""):
        abort(429)
    options = {**OPTIONS, **json.loads(body or b"{}")}
    if "client_id" not in session:
        session["client_id"] = token_urlsafe(16)
    task_id = signer.sign(f"{uuid.uuid4().hex}.{owner_tag(session['client_id'])}")
    task_id = task_id.decode()
    connection = database()
    connection.execute("SELECT 1")  # what SQLAlchemy's pre-ping sends
    connection.execute(
        INSERT,
        (
            task_id,
            "long task",
            Json(options),
            session["client_id"],
            "PENDING",
            0,
            options["total"],
            datetime.now(timezone.utc),
        ),
    )
    celery.send_task(
        "bench.noop",
        task_id=task_id,
        kwargs=options,
        soft_time_limit=SOFT_TIME_LIMIT,
        time_limit=TIME_LIMIT,
    )
    status_url = f"/tasks/{task_id}"
    body = {"id": task_id, "state": "PENDING", "status_url": status_url}
    return jsonify(body), 202, {"Location": status_url}


@app.get("/tasks/<task_id>")
def status(task_id: str):
    try:
        tag = signer.unsign(task_id, max_age=ID_MAX_AGE).decode().partition(".")[2]
    except BadSignature:
        abort(404)
    if "client_id" not in session or tag != owner_tag(session["client_id"]):
        abort(404)
    meta = celery.backend.get_task_meta(task_id)
    return jsonify(id=task_id, state=meta["status"])
