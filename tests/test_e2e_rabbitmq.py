"""On RabbitMQ, an accepted task is one the broker has stored.

The RabbitMQ bake runs in production (gunicorn, PostgreSQL, results in a
private Redis) against a RabbitMQ node of the test's own, which it gives
policies. `POST /tasks` answers 202 only once the broker has confirmed the
message (publisher confirms): a message it refuses is a 503 with no job row
left behind. (That a confirmed message is still there, in a quorum queue,
after the broker restarts is shown with the broker on a host of its own, in
tests/test_e2e_cluster_rabbitmq.py.) A countdown (a mail's retry) waits in
the broker, and comes back through the queue's topic exchange.
"""

import psycopg
import pytest
import requests
from celery import Celery
from rabbitmq import PrivateRabbitMQ
from stack import Stack, poll_task
from support import baked, http_post, private_redis, production_env, run_project

pytestmark = pytest.mark.e2e


@pytest.fixture
def rabbitmq():
    node = PrivateRabbitMQ()
    try:
        yield node.start()
    finally:
        node.stop()


@pytest.fixture
def stack(cookies, project_venv, rabbitmq, database_url, tmp_path):
    """The RabbitMQ bake under gunicorn; no worker until a test starts one."""
    project = baked(cookies, broker="rabbitmq")
    (tmp_path / "redis").mkdir()
    redis = private_redis(tmp_path / "redis")
    env = production_env(
        project_venv,
        project,
        CELERY_BROKER_URL=rabbitmq.url,
        CELERY_RESULT_BACKEND=redis.url,
        DATABASE_URL=database_url,
    )
    running = Stack(project, project_venv, env, tmp_path / "logs")
    running.log_dir.mkdir()
    running.migrate()
    running.start_web()
    yield running
    running.stop()
    redis.stop()


def start_task(stack: Stack) -> requests.Response:
    return http_post(stack.url("/tasks"), json={"total": 2}, timeout=30)


def test_a_task_the_broker_refuses_is_a_503_and_leaves_no_job(
    stack, rabbitmq, database_url
):
    """A full queue that refuses new messages: the broker nacks the publish.

    Without publisher confirms the web tier would answer 202 for a task
    the broker dropped, and list a job that never runs.
    """
    assert start_task(stack).status_code == 202  # the queue exists now
    rabbitmq.ctl(
        "set_policy",
        "--apply-to",
        "queues",
        "full",
        "^celery$",
        '{"max-length": 0, "overflow": "reject-publish"}',
    )
    jobs = count_jobs(database_url)
    response = start_task(stack)
    assert response.status_code == 503, response.text
    assert "error" in response.json()
    assert count_jobs(database_url) == jobs, stack.logs()


def count_jobs(database_url: str) -> int:
    with psycopg.connect(database_url) as connection:
        return connection.execute("SELECT count(*) FROM jobs").fetchone()[0]


# Sends a long task due in ten seconds through the project's Celery; prints its id.
SEND_LATER = """
from app import create_app
from app.tasks.progress import long_task
app = create_app()
with app.app_context():
    print(long_task.apply_async(kwargs={"total": 1, "delay": 0}, countdown=10).id)
"""


def test_a_countdown_waits_in_the_broker_not_in_the_worker(stack, rabbitmq):
    """A task due later (a mail's retry) must not hold up the tasks due now.

    On quorum queues a worker cannot prefetch more while it holds a task
    until its time (no global QoS): with one process, the task due now
    would wait behind it. Celery's delayed delivery keeps it in the
    broker's delay queues instead, and hands it back at its time through
    the task queue's topic exchange (with a direct one it falls back to the
    worker's wait).
    """
    stack.start_worker("worker", "--concurrency", "1")
    sent = run_project(
        stack.project, stack.venv, "python", "-c", SEND_LATER, env=stack.env
    )
    later = Celery(backend=stack.env["CELERY_RESULT_BACKEND"]).AsyncResult(
        sent.stdout.split()[-1]
    )
    response = start_task(stack)
    assert response.status_code == 202, response.text
    poll_task(stack.url(response.json()["status_url"]), {"SUCCESS"}, stack.logs)
    assert later.state == "PENDING"
    assert later.get(timeout=60) == {"current": 1, "total": 1}
