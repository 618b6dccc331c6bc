"""A second yardstick: bare Flask doing the baked app's per-request duties by hand.

`bare_web.py` does the SQL and Redis work of the task API and nothing else.
The baked app also keeps promises on every `POST /tasks`: a per-client rate
limit counted in Redis, a database connection checked before use, a
session cookie naming the task's owner, a signed task id, the body's
options read, and security headers on every answer. This app does the same
work in the fewest lines, with the same libraries underneath (`limits`'
fixed window in the same Redis, psycopg, itsdangerous, Flask's session),
but none of the extensions that organise it. Template / this app is the
price of the project's structure; this app / bare is the price of the
promises.
"""

import json
import os
import uuid
from datetime import datetime, timezone
from functools import cache
from secrets import token_urlsafe

import psycopg
from bare_web import INSERT, OPTIONS, SOFT_TIME_LIMIT, TIME_LIMIT, celery, database_url
from flask import Flask, Response, abort, jsonify, request, session
from itsdangerous import BadSignature, TimestampSigner
from limits import parse
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter
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


@app.after_request
def add_security_headers(response: Response) -> Response:
    response.headers.update(SECURITY_HEADERS)
    return response


@app.post("/tasks")
def start():
    if not rate_limiter.hit(TASKS_RATE_LIMIT, "tasks", request.remote_addr or ""):
        abort(429)
    options = {**OPTIONS, **json.loads(request.get_data() or b"{}")}
    task_id = signer.sign(uuid.uuid4().hex).decode()
    if "client_id" not in session:
        session["client_id"] = token_urlsafe(16)
    connection = database()
    connection.execute("SELECT 1")  # what SQLAlchemy's pre-ping sends
    connection.execute(
        INSERT,
        (
            task_id,
            "walk",
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
        signer.unsign(task_id, max_age=ID_MAX_AGE)
    except BadSignature:
        abort(404)
    meta = celery.backend.get_task_meta(task_id)
    return jsonify(id=task_id, state=meta["status"])
