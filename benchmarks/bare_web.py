"""The yardstick for the web tier: bare Flask doing the same Redis and SQL work.

POST /tasks inserts one row into `bare_jobs` (a copy of the baked project's
`jobs` table: same columns, keys and index) and commits it, then publishes
the message the baked app publishes for a default long task (its options as
keyword arguments, its soft and hard time limits); GET /tasks/<id> reads one
result. No validation, no signed ids, no sessions, no ORM, no error
handling: the least a view can do.

    python bare_web.py    # create bare_jobs, once `manage.py db upgrade` ran
"""

import os
import uuid
from datetime import datetime, timezone
from functools import cache
from secrets import token_urlsafe

import psycopg
from celery import Celery
from flask import Flask, jsonify
from psycopg.types.json import Json

url = os.environ["BENCH_REDIS_URL"]
database_url = os.environ["BENCH_DATABASE_URL"]
celery = Celery("bare", broker=url, backend=url)
app = Flask(__name__)

# The columns the baked app writes for a new job (`finished_at` stays NULL).
INSERT = (
    "INSERT INTO bare_jobs"
    " (id, kind, options, owner, state, current, total, created_at)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
)
OPTIONS = {"total": 10, "delay": 0.5}
# The baked app's limits for that long task: its 5 s plus one and two margins of
# 60 s (app/forms/tasks.py); bench.py checks that both messages agree.
SOFT_TIME_LIMIT, TIME_LIMIT = 65.0, 125.0


@cache
def database() -> psycopg.Connection:
    """This process's connection, opened on first use (after gunicorn forks)."""
    return psycopg.connect(database_url)


@app.post("/tasks")
def start():
    task_id = str(uuid.uuid4())
    connection = database()
    # Committed before the task is sent, as the baked app does.
    connection.execute(
        INSERT,
        (
            task_id,
            "noop",
            Json(OPTIONS),
            token_urlsafe(16),
            "PENDING",
            0,
            OPTIONS["total"],
            datetime.now(timezone.utc),
        ),
    )
    connection.commit()
    celery.send_task(
        "bench.noop",
        task_id=task_id,
        kwargs=OPTIONS,
        soft_time_limit=SOFT_TIME_LIMIT,
        time_limit=TIME_LIMIT,
    )
    return jsonify(id=task_id, status_url=f"/tasks/{task_id}"), 202


@app.get("/tasks/<task_id>")
def status(task_id: str):
    meta = celery.backend.get_task_meta(task_id)
    return jsonify(id=task_id, state=meta["status"])


def create_table() -> None:
    """`bare_jobs`, shaped like the migrated `jobs` table, indexes included."""
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute("CREATE TABLE bare_jobs (LIKE jobs INCLUDING ALL)")


if __name__ == "__main__":
    create_table()
