"""The yardstick for the web tier: bare Flask doing the same Redis work.

POST /tasks publishes one task message; GET /tasks/<id> reads one result.
No validation, no signed ids, no error handling: the least a view can do.
"""

import os

from celery import Celery
from flask import Flask, jsonify

url = os.environ["BENCH_REDIS_URL"]
celery = Celery("bare", broker=url, backend=url)
app = Flask(__name__)


@app.post("/tasks")
def start():
    task_id = celery.send_task("bench.noop").id
    return jsonify(id=task_id, status_url=f"/tasks/{task_id}"), 202


@app.get("/tasks/<task_id>")
def status(task_id: str):
    meta = celery.backend.get_task_meta(task_id)
    return jsonify(id=task_id, state=meta["status"])
