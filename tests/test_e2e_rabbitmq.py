"""On RabbitMQ, an accepted task is one the broker has stored.

The RabbitMQ bake runs in production (gunicorn, PostgreSQL, results in a
private Redis) against a RabbitMQ node of the test's own, which it restarts
and gives policies. `POST /tasks` answers 202 only once the broker has
confirmed the message (publisher confirms): a message it refuses is a 503
with no job row left behind, and a message it confirmed is still there
after the broker restarts.
"""

import psycopg
import pytest
import requests
from rabbitmq import PrivateRabbitMQ
from stack import Stack, poll_task
from support import private_redis, production_env

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
    result = cookies.bake(extra_context={"broker": "rabbitmq"})
    assert result.exit_code == 0, result.exception
    (tmp_path / "redis").mkdir()
    redis = private_redis(tmp_path / "redis")
    env = production_env(
        project_venv,
        result.project_path,
        CELERY_BROKER_URL=rabbitmq.url,
        CELERY_RESULT_BACKEND=redis.url,
        DATABASE_URL=database_url,
    )
    running = Stack(result.project_path, project_venv, env, tmp_path / "logs")
    running.log_dir.mkdir()
    running.migrate()
    running.start_web()
    yield running
    running.stop()
    redis.stop()


def start_task(stack: Stack) -> requests.Response:
    return requests.post(stack.url("/tasks"), json={"total": 2}, timeout=30)


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


def test_an_accepted_task_survives_a_broker_restart(stack, rabbitmq):
    """Accepted while no worker runs, the broker restarted, then a worker runs it."""
    response = start_task(stack)
    assert response.status_code == 202, response.text
    rabbitmq.restart()
    stack.start_worker("worker", "--concurrency", "1")
    poll_task(
        stack.url(response.json()["status_url"]), {"SUCCESS"}, stack.logs, timeout=60
    )
