"""What a deployment sees: metrics a real Prometheus scrapes, one trace from
the web to the worker, a task's failure in Sentry, JSON logs that tie a
request to its task.

One stack for all: the default bake in production under gunicorn (two
processes) with a worker, Redis and PostgreSQL, its OTLP endpoint and its
Sentry DSN pointed at endpoints of this test's own, and its mail at an SMTP
server that refuses messages (a task that fails).
"""

import json
import shutil
import socket
import time
import urllib.parse
from pathlib import Path

import pytest
import requests
import yaml
from collectors import Collector, exported, sentry_events
from conftest import running_stack
from stack import poll_task
from support import (
    ManagedProcess,
    baked,
    browser,
    free_port,
    postgres_url,
    production_env,
    run_project,
    wait_for_port,
    wait_until,
)

pytestmark = pytest.mark.e2e

TOKEN = "metrics-test-token"
SLUG = "flask-celery-app"


@pytest.fixture(scope="module")
def otlp():
    collector = Collector()
    yield collector
    collector.stop()


@pytest.fixture(scope="module")
def sentry():
    collector = Collector()
    yield collector
    collector.stop()


@pytest.fixture(scope="module")
def stack(
    cookies_session,
    project_venv,
    redis_server,
    database,
    smtp,
    otlp,
    sentry,
    tmp_path_factory,
):
    project = baked(cookies_session)
    smtp.reply = "554 5.7.1 Rejected"
    env = production_env(
        project_venv,
        project,
        CELERY_BROKER_URL=redis_server,
        DATABASE_URL=postgres_url(database),
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=str(smtp.port),
        LOG_FORMAT="json",
        METRICS_TOKEN=TOKEN,
        OTEL_EXPORTER_OTLP_ENDPOINT=otlp.url,
        # Export within a fifth of a second, not five.
        OTEL_BSP_SCHEDULE_DELAY="200",
        SENTRY_DSN=f"http://public@127.0.0.1:{sentry.port}/1",
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path_factory.mktemp("metrics")),
    )
    try:
        yield from running_stack(project, project_venv, env, tmp_path_factory)
    finally:
        smtp.reply = None


@pytest.fixture(scope="module")
def prometheus(stack, tmp_path_factory):
    """Debian's Prometheus, scraping the web tier every second with the token."""
    executable = shutil.which("prometheus")
    assert executable, "prometheus is not installed: scripts/test installs it"
    folder = tmp_path_factory.mktemp("prometheus")
    target = urllib.parse.urlsplit(stack.base_url).netloc
    config = {
        "global": {"scrape_interval": "1s"},
        "scrape_configs": [
            {
                "job_name": "web",
                "authorization": {"credentials": TOKEN},
                "static_configs": [{"targets": [target]}],
            }
        ],
    }
    (folder / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    command = [executable, f"--config.file={folder / 'prometheus.yml'}"]
    command += [f"--storage.tsdb.path={folder / 'data'}"]
    command += [f"--web.listen-address=127.0.0.1:{port}"]
    with ManagedProcess(command, folder, {}, folder / "prometheus.log") as process:
        wait_for_port("127.0.0.1", port, timeout=60)
        process.url = f"http://127.0.0.1:{port}"
        yield process


def promql(prometheus, query: str) -> float | None:
    answer = requests.get(
        f"{prometheus.url}/api/v1/query", params={"query": query}, timeout=10
    ).json()
    result = answer["data"]["result"]
    return float(result[0]["value"][1]) if result else None


HELD_BODY = b'{"total": 1}'


def held_post(url: str) -> socket.socket:
    """A `POST /tasks` sent all but its body: the process that accepts it waits.

    gunicorn's sync worker reads a request in full before it takes the next
    connection, so while this one is held the other process serves the rest.
    """
    parts = urllib.parse.urlsplit(url)
    held = socket.create_connection((parts.hostname, parts.port), timeout=15)
    held.sendall(
        f"POST /tasks HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(HELD_BODY)}\r\n"
        "Connection: close\r\n\r\n".encode()
    )
    return held


def test_prometheus_counts_requests_and_tasks_once_across_both_processes(
    stack, prometheus
):
    """Tasks started through both gunicorn processes add up, counted once."""
    assert requests.get(stack.url("/metrics"), timeout=10).status_code == 401
    metrics = Path(stack.env["PROMETHEUS_MULTIPROC_DIR"])
    # Which process accepts a connection is the kernel's choice. The held
    # request is first in the listen queue: one process takes it and waits,
    # the other serves the eleven, then the first finishes the twelfth.
    with held_post(stack.base_url) as held:
        clients = [browser() for _ in range(4)]
        for index in range(11):
            client = clients[index % 4]
            response = client.post(stack.url("/tasks"), json={"total": 1}, timeout=15)
            assert response.status_code == 202, response.text
        held.sendall(HELD_BODY)
        status_line = held.makefile("rb").readline()
    assert b" 202 " in status_line, status_line
    files = list(metrics.glob("counter_*.db"))
    assert len(files) >= 2, "both web processes should have counted"
    accepted = 'sum(tasks_accepted_total{kind="long_task"})'
    posts = 'sum(http_requests_total{route="/tasks",method="POST",status="202"})'
    wait_until(
        lambda: promql(prometheus, accepted) == 12 and promql(prometheus, posts) == 12,
        timeout=30,
        message=lambda: (
            f"{promql(prometheus, accepted)=}, {promql(prometheus, posts)=}\n"
            + prometheus.log_text()[-2000:]
        ),
    )


def test_one_trace_holds_the_request_and_the_tasks_run(stack, otlp):
    client = browser()
    response = client.post(stack.url("/tasks"), json={"total": 2, "delay": 0})
    assert response.status_code == 202
    task_id = response.json()["id"]
    poll_task(
        stack.url(response.json()["status_url"]), {"SUCCESS"}, stack.logs, client=client
    )

    def tasks_traces(everything: list) -> set[str]:
        """The traces holding a span of this task (its publish, its run)."""
        return {
            trace
            for _, trace, _, attributes in everything
            if attributes.get("messaging.message.id") == task_id
        }

    def names_in_the_tasks_trace() -> set[tuple[str, str]]:
        """The spans of the trace that the publish of this task belongs to.

        Each process exports on its own schedule, span by span as they end:
        this is read again until all of them are in.
        """
        everything = exported(otlp)
        traces = tasks_traces(everything)
        return {
            (service, name) for service, trace, name, _ in everything if trace in traces
        }

    def complete() -> bool:
        names = names_in_the_tasks_trace()
        return (
            (f"{SLUG}-web", "POST /tasks") in names
            # The job's row, written through SQLAlchemy.
            and any(s == f"{SLUG}-web" and n.startswith("INSERT") for s, n in names)
            # The task's run, in the worker.
            and any(s == f"{SLUG}-worker" and "long_task" in n for s, n in names)
        )

    wait_until(complete, timeout=30, message=lambda: str(names_in_the_tasks_trace()))
    # One trace, not one per process.
    traces = tasks_traces(exported(otlp))
    assert len(traces) == 1, traces


def test_a_failing_task_is_reported_to_sentry(stack, sentry, smtp):
    """The mail server refuses: the mail task fails, and Sentry hears of it."""
    run_project(
        stack.project,
        stack.venv,
        "python",
        "manage.py",
        "send-test-email",
        "ada@example.com",
        env=stack.env,
    )

    def failures() -> list[dict]:
        return [
            event
            for event in sentry_events(sentry)
            if any(
                value["type"] == "SMTPDataError"
                for value in event.get("exception", {}).get("values", [])
            )
        ]

    wait_until(failures, timeout=60, message=stack.logs)
    [event] = failures()
    assert event["tags"]["celery_task_id"]
    assert "user" not in event  # no personal data by default


def test_json_logs_parse_and_tie_the_task_to_its_request(stack):
    client = browser()
    response = client.post(
        stack.url("/tasks"),
        json={"total": 2, "delay": 0},
        headers={"X-Request-ID": "edge-0123"},
        timeout=15,
    )
    assert response.headers["X-Request-ID"] == "edge-0123"
    task_id = response.json()["id"]
    poll_task(stack.url(f"/tasks/{task_id}"), {"SUCCESS"}, stack.logs, client=client)
    time.sleep(0.5)
    for name in ("web", "worker"):
        text = stack.processes[name].log_text()
        started = text.index(" ready." if name == "worker" else "Booting worker")
        after_start = text[text.index("\n", started) + 1 :].splitlines()
        for line in after_start:
            json.loads(line)  # every line is one JSON object
    worker_lines = [
        json.loads(line)
        for line in stack.processes["worker"].log_text().splitlines()
        if line.startswith("{")
    ]
    mine = [line for line in worker_lines if line.get("task_id") == task_id]
    assert mine and {line["request_id"] for line in mine} == {"edge-0123"}
    web = [
        json.loads(line)
        for line in stack.processes["web"].log_text().splitlines()
        if line.startswith("{")
    ]
    assert any("edge-0123" in line["message"] for line in web)  # the access line
