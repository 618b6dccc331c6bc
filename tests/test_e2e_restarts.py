"""Restarts with work in flight: the broker or the result store restarts
while a long task runs. A restart may cost a rerun of the task, never the
task, and never the worker.

The default bake runs in production (gunicorn, a prefork worker, PostgreSQL)
on a private Redis with append-only persistence, which the tests restart
for two seconds in the middle of a long task; the RabbitMQ bake keeps its
results in that Redis while the machine's RabbitMQ carries the tasks.
"""

import time
from pathlib import Path

import pytest
from stack import Stack, poll_task
from support import (
    baked,
    http_get,
    http_post,
    private_redis,
    production_env,
    wait_until,
)

pytestmark = pytest.mark.e2e

FINAL = {"SUCCESS", "FAILURE", "REVOKED"}
# How long Redis stays away.
BLIP_SECONDS = 2


@pytest.fixture(params=["redis", "rabbitmq"])
def broker(request) -> str:
    return request.param


@pytest.fixture
def redis(tmp_path):
    """A private Redis with append-only persistence; tests restart it."""
    (tmp_path / "redis-data").mkdir()
    holder = {"server": private_redis(tmp_path / "redis-data", persistent=True)}
    yield holder
    holder["server"].stop()


@pytest.fixture
def stack(cookies, broker, project_venv, redis, database_url, rabbitmq_url, tmp_path):
    """The bake for `broker`, running in production: worker and gunicorn."""
    project = baked(cookies, broker=broker)
    env = production_env(
        project_venv,
        project,
        CELERY_BROKER_URL=rabbitmq_url if broker == "rabbitmq" else redis["server"].url,
        CELERY_RESULT_BACKEND=redis["server"].url,
        DATABASE_URL=database_url,
    )
    running = Stack(project, project_venv, env, tmp_path / "logs")
    running.log_dir.mkdir()
    running.migrate()
    running.start_worker("worker", "--concurrency", "2")
    running.start_web()
    yield running
    running.stop()


def restart_redis(redis: dict, tmp_path: Path) -> None:
    """Stop Redis, wait BLIP_SECONDS, start it again on its port and files."""
    server = redis["server"]
    server.stop()
    time.sleep(BLIP_SECONDS)
    redis["server"] = private_redis(
        tmp_path / "redis-data", port=server.port, persistent=True
    )


def progress(status_url: str) -> dict:
    response = http_get(status_url, timeout=15)
    return response.json() if response.status_code == 200 else {"current": None}


def start(stack: Stack, **body) -> str:
    response = http_post(stack.url("/tasks"), json=body, timeout=15)
    assert response.status_code == 202, response.text
    return stack.url(response.json()["status_url"])


def test_a_redis_restart_mid_task_costs_at_most_a_restart_of_the_task(
    stack, redis, tmp_path
):
    """The long task ends SUCCESS with every step; the worker lives on."""
    status_url = start(stack, total=60, delay=0.1)
    before = poll_task(status_url, {"PROGRESS"}, stack.logs)[-1]["current"]
    restart_redis(redis, tmp_path)
    back = time.monotonic()
    wait_until(
        lambda: (progress(status_url)["current"] or 0) > before,
        timeout=60,
        interval=0.1,
        message=stack.logs,
    )
    # For the README's table: how long the long task's progress stays still.
    print(f"long task moving again {time.monotonic() - back:.1f} s after Redis is back")
    final = poll_task(status_url, FINAL, stack.logs, timeout=90)[-1]
    assert final["state"] == "SUCCESS", stack.logs()
    assert final["current"] == final["total"] == 60
    worker = stack.processes["worker"]
    assert worker.process.poll() is None, worker.log_text()[-3000:]
    # Run once: not cancelled and handed out again, nor restored twice.
    task_id = status_url.rsplit("/", 1)[1]
    assert worker.log_text().count(f"[{task_id}] succeeded") == 1
    # And new work runs.
    final = poll_task(start(stack, total=2, delay=0), FINAL, stack.logs)[-1]
    assert final["state"] == "SUCCESS"


def test_a_task_accepted_while_the_result_store_is_away_still_ends(
    stack, redis, tmp_path, broker
):
    """POST /tasks during the restart: refused (503), or accepted and then
    run to its end once the store is back, never PENDING for good."""
    server = redis["server"]
    server.stop()
    try:
        response = http_post(
            stack.url("/tasks"), json={"total": 3, "delay": 0.1}, timeout=15
        )
        time.sleep(BLIP_SECONDS)
    finally:
        redis["server"] = private_redis(
            tmp_path / "redis-data", port=server.port, persistent=True
        )
    assert response.status_code in {202, 503}, response.text
    if response.status_code == 202:
        status_url = stack.url(response.json()["status_url"])
        final = poll_task(status_url, FINAL, stack.logs, timeout=90)[-1]
        assert final["state"] == "SUCCESS", stack.logs()
