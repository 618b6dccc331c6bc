"""What survives what: a baked project under broken processes and hostile input.

Each test runs the default bake (production settings, gunicorn, a prefork
worker) against a private redis-server it may stop, restart or corrupt.
"""

import collections
import re
import signal
import socket
import subprocess
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
import yaml
from kombu import Connection, Exchange, Producer
from stack import Stack, poll_task
from support import (
    baked,
    browser,
    client_of,
    http_get,
    http_post,
    private_redis,
    production_env,
    wait_until,
)

pytestmark = pytest.mark.e2e

LONG_TASK = "app.tasks.progress.long_task"
# A worker that died holding a task gives it back after this many seconds.
# POST /tasks refuses long tasks that could outlive it (they would run twice).
VISIBILITY_TIMEOUT = 10


@pytest.fixture(scope="module")
def project(cookies_session) -> Path:
    return baked(cookies_session)


@pytest.fixture
def redis(tmp_path):
    """A private Redis with append-only persistence; tests may restart it."""
    holder = {"server": private_redis(tmp_path, persistent=True)}
    yield holder
    holder["server"].stop()


@pytest.fixture
def stack(project, project_venv, redis, database_url, tmp_path):
    """The project on `redis` and PostgreSQL, migrated, processes not started."""
    env = production_env(
        project_venv,
        project,
        CELERY_BROKER_URL=redis["server"].url,
        CELERY_VISIBILITY_TIMEOUT=str(VISIBILITY_TIMEOUT),
        DATABASE_URL=database_url,
    )
    running = Stack(project, project_venv, env, tmp_path / "logs")
    running.log_dir.mkdir()
    running.migrate()
    yield running
    running.stop()


def start_task(stack: Stack, client: requests.Session | None = None, **body) -> str:
    client = client or client_of(stack.base_url)
    response = client.post(stack.url("/tasks"), json=body, timeout=15)
    assert response.status_code == 202, response.text
    return response.json()["status_url"]


def final_state(stack: Stack, status_url: str, timeout: float = 60) -> dict:
    until = {"SUCCESS", "FAILURE", "REVOKED"}
    return poll_task(stack.url(status_url), until, stack.logs, timeout)[-1]


def runs_of(stack: Stack, name: str = "worker") -> collections.Counter:
    """How many times each task id finished, from the worker logs."""
    text = "".join(
        process.log_text()
        for key, process in stack.processes.items()
        if key.startswith(name)
    )
    return collections.Counter(re.findall(rf"{LONG_TASK}\[([^\]]+)\] succeeded", text))


def test_pool_process_killed_mid_task_is_run_again(stack):
    """SIGKILL of the pool process: the task is redelivered and succeeds."""
    worker = stack.start_worker("worker", "--concurrency", "1")
    stack.start_web()
    status_url = start_task(stack, total=30, delay=0.1)
    poll_task(stack.url(status_url), {"PROGRESS"}, stack.logs)
    worker.kill_children()
    assert final_state(stack, status_url)["state"] == "SUCCESS"
    assert "WorkerLostError" in worker.log_text()


def test_whole_worker_killed_mid_task_runs_when_a_worker_returns(stack):
    """SIGKILL of the worker: a new worker takes the task once it is due."""
    worker = stack.start_worker("worker", "--concurrency", "1")
    stack.start_web()
    status_url = start_task(stack, total=30, delay=0.1)
    poll_task(stack.url(status_url), {"PROGRESS"}, stack.logs)
    worker.signal_session(signal.SIGKILL)
    worker.process.wait()
    stack.start_worker("worker-2", "--concurrency", "1")
    assert final_state(stack, status_url, timeout=90)["state"] == "SUCCESS"


def test_broker_down_answers_503_fast_and_recovers(stack, redis, tmp_path):
    """Redis stopped: 503 JSON within 10 s; restarted: all works again."""
    stack.start_worker("worker", "--concurrency", "2")
    stack.start_web()
    status_url = start_task(stack, total=1, delay=0)
    assert final_state(stack, status_url)["state"] == "SUCCESS"

    port = redis["server"].port
    redis["server"].stop()
    for method, path in [("POST", "/tasks"), ("GET", status_url)]:
        started = time.monotonic()
        response = client_of(stack.base_url).request(
            method, stack.url(path), timeout=30
        )
        assert time.monotonic() - started < 10
        assert response.status_code == 503
        assert set(response.json()) == {"error"}

    redis["server"] = private_redis(tmp_path, port=port, persistent=True)
    status_url = start_task(stack, total=2, delay=0)
    assert final_state(stack, status_url, timeout=90)["state"] == "SUCCESS"


def test_queued_tasks_survive_a_redis_restart(stack, redis, tmp_path):
    """With append-only persistence, tasks queued before a restart still run."""
    stack.start_web()
    status_urls = [start_task(stack, total=1, delay=0) for _ in range(3)]
    port = redis["server"].port
    redis["server"].stop()
    redis["server"] = private_redis(tmp_path, port=port, persistent=True)
    stack.start_worker("worker", "--concurrency", "2")
    for status_url in status_urls:
        assert final_state(stack, status_url)["state"] == "SUCCESS"


def test_pickled_message_is_refused_and_never_run(stack, redis):
    """JSON only: a pickle message on the queue is refused, not executed."""
    worker = stack.start_worker("worker", "--concurrency", "1")
    task_id = str(uuid.uuid4())
    with Connection(redis["server"].url) as connection:
        Producer(connection).publish(
            [[], {"total": 1, "delay": 0}, {}],
            exchange=Exchange("celery", type="direct"),
            routing_key="celery",
            serializer="pickle",
            headers={"task": LONG_TASK, "id": task_id, "lang": "py"},
        )
    wait_until(
        lambda: "untrusted content" in worker.log_text(),
        timeout=30,
        message=worker.log_text,
    )
    time.sleep(1)
    assert task_id not in runs_of(stack)


def state_of(client: requests.Session, status_url: str) -> str:
    return client.get(status_url, timeout=15).json()["state"]


def test_a_thousand_tasks_over_http_each_run_once(stack):
    """1,000 tasks from 20 concurrent clients: all SUCCESS, none lost or doubled."""
    stack.start_worker("worker", "--concurrency", "2")
    stack.start_web(workers=2)
    browsers = [browser() for _ in range(20)]
    for each in browsers:  # each gets its session cookie before the rush
        each.get(stack.url("/tasks"), timeout=15)
    with ThreadPoolExecutor(20) as clients:
        started = list(
            clients.map(
                lambda index: (
                    browsers[index % 20],
                    start_task(stack, browsers[index % 20], total=1, delay=0),
                ),
                range(1000),
            )
        )
    status_urls = [url for _, url in started]
    task_ids = {url.rsplit("/", 1)[1] for url in status_urls}
    assert len(task_ids) == 1000
    wait_until(
        lambda: task_ids <= set(runs_of(stack)),
        timeout=180,
        interval=0.5,
        message=lambda: f"{len(task_ids - set(runs_of(stack)))} tasks never ran",
    )
    time.sleep(1)
    assert all(runs_of(stack)[task_id] == 1 for task_id in task_ids)
    with ThreadPoolExecutor(20) as clients:
        states = list(
            clients.map(
                lambda pair: state_of(pair[0], stack.url(pair[1])),
                started,
            )
        )
    assert collections.Counter(states) == {"SUCCESS": 1000}


def test_a_task_that_could_outlive_the_visibility_timeout_runs_once(stack):
    """Longer than the visibility timeout: refused. Shorter: one worker only.

    Two workers watch the queue, so a long task still running when Redis hands it
    out again would be received by the second one.
    """
    first = stack.start_worker("worker", "--concurrency", "1")
    second = stack.start_worker("worker-2", "--concurrency", "1")
    stack.start_web()
    refused = http_post(
        stack.url("/tasks"), json={"total": 120, "delay": 0.1}, timeout=15
    )
    assert refused.status_code == 400
    assert "total" in refused.json()["error"]

    status_url = start_task(stack, total=70, delay=0.1)
    assert final_state(stack, status_url)["state"] == "SUCCESS"
    time.sleep(VISIBILITY_TIMEOUT + 2)  # a second delivery would be due by now
    task_id = status_url.rsplit("/", 1)[1]
    logs = first.log_text() + second.log_text()
    assert logs.count(f"{LONG_TASK}[{task_id}] received") == 1
    assert runs_of(stack)[task_id] == 1


def test_rate_limits_count_across_web_processes_in_redis(stack):
    """Two gunicorn processes share one count: the sixth POST in a minute is
    a 429 with Retry-After, and polling is never limited."""
    stack.env["TASKS_RATE_LIMIT"] = "5/minute"
    stack.start_web(workers=2)
    answers = [
        http_post(stack.url("/tasks"), json={"total": 1}, timeout=15) for _ in range(8)
    ]
    assert [answer.status_code for answer in answers] == [202] * 5 + [429] * 3
    assert set(answers[-1].json()) == {"error"}
    assert 1 <= int(answers[-1].headers["Retry-After"]) <= 61
    status_url = answers[0].json()["status_url"]
    for _ in range(10):
        assert http_get(stack.url(status_url), timeout=15).status_code == 200


def test_a_full_queue_answers_503_with_retry_after(stack):
    """No worker runs: past TASK_QUEUE_LIMIT waiting tasks, POST is a 503."""
    stack.env["TASK_QUEUE_LIMIT"] = "3"
    stack.start_web(workers=1)
    for _ in range(4):
        start_task(stack, total=1, delay=0)
    time.sleep(1.5)  # each web process reads the queue length once a second
    response = http_post(stack.url("/tasks"), json={}, timeout=15)
    assert response.status_code == 503
    assert set(response.json()) == {"error"}
    assert response.headers["Retry-After"] == "10"


@pytest.fixture(scope="module")
def worker_health_check(cookies_session) -> str:
    """The shell command compose.yaml's worker service checks its health with."""
    project = baked(cookies_session, use_docker=True)
    compose = yaml.safe_load((project / "compose.yaml").read_text())
    kind, command = compose["services"]["worker"]["healthcheck"]["test"]
    assert kind == "CMD-SHELL"
    return command.replace("$$", "$")  # compose's escape for the shell's $


def test_a_workers_health_check_pings_that_worker_only(stack, worker_health_check):
    """Each worker container checks its own worker: another one answering
    does not make a dead worker look healthy."""

    def check() -> int:
        env = {**stack.env, "HOSTNAME": socket.gethostname()}
        return subprocess.run(
            ["bash", "-c", worker_health_check],
            cwd=stack.project,
            env=env,
            capture_output=True,
            timeout=60,
            check=False,
        ).returncode

    worker = stack.start_worker("worker", "--concurrency", "1")
    assert check() == 0
    stack.start_worker("other", "--concurrency", "1")
    worker.stop()
    assert check() != 0, "another worker answered for this one"


def test_health_is_the_web_tiers_whatever_the_workers_do(stack, redis):
    """A solo worker busy with a long task answers no ping: /healthz stays 200.
    A wrong broker password is a 503 naming the broker, not a 500."""
    stack.start_worker("worker", "--pool", "solo")
    stack.start_web()
    status_url = start_task(stack, total=50, delay=0.1)
    poll_task(stack.url(status_url), {"PROGRESS"}, stack.logs)
    response = http_get(stack.url("/healthz"), timeout=15)
    assert response.status_code == 200, response.text
    assert response.json()["broker"] == "up"
    stack.stop()

    url = redis["server"].url.replace("redis://", "redis://:wrong-password@")
    stack.env["CELERY_BROKER_URL"] = stack.env["CELERY_RESULT_BACKEND"] = url
    stack.start_web()
    response = http_get(stack.url("/healthz"), timeout=15)
    assert response.status_code == 503, response.text
    assert response.json()["broker"] == "down"
    assert "broker" in response.json()["error"]
