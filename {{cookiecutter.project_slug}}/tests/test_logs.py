"""Logs tie a request to the tasks it sent: one setup for web and worker."""

import json
import logging
import uuid

import pytest
from conftest import make_current, worker_process
from worker_tasks import sleep_for

from app import create_app
from app.platform.logs import RequestAndTask, logging_config


@pytest.mark.parametrize("path", ["/", "/tasks", "/tasks/unknown", "/healthz"])
def test_every_answer_carries_a_request_id(client, path):
    response = client.get(path)
    assert len(response.headers["X-Request-ID"]) == 32


def test_a_proxys_request_id_is_kept_if_it_looks_like_one(client):
    sent = "edge-7f3a:42"
    assert (
        client.get("/", headers={"X-Request-ID": sent}).headers["X-Request-ID"] == sent
    )
    for hostile in ("x" * 129, "a b", "<script>", ""):
        answered = client.get("/", headers={"X-Request-ID": hostile})
        assert answered.headers["X-Request-ID"] != hostile


def test_a_refused_request_carries_one_too(database_url):
    """Answered before the view (a rate limit), it is still tied to its id."""
    settings = {
        "SQLALCHEMY_DATABASE_URI": database_url,
        "RATELIMIT_ENABLED": True,
        "TASKS_RATE_LIMIT": "1/minute",
    }
    client = make_current(create_app("testing", settings)).test_client()
    client.post("/tasks")
    refused = client.post("/tasks", headers={"X-Request-ID": "the-second"})
    assert refused.status_code == 429
    assert refused.headers["X-Request-ID"] == "the-second"


def test_text_lines_have_time_level_logger_and_ids(capsys):
    record = logging.LogRecord("app.views", logging.WARNING, "", 0, "hi", (), None)
    RequestAndTask().filter(record)
    config = logging_config()
    formatter = logging.Formatter(config["formatters"]["default"]["format"])
    line = formatter.format(record)
    assert " WARNING app.views [None None] hi" in line
    assert line[:4].isdigit()  # the time first


def test_json_lines_parse(monkeypatch):
    """LOG_FORMAT=json: one object a line, with time, level, logger, message."""
    monkeypatch.setenv("LOG_FORMAT", "json")
    settings = logging_config()["formatters"]["default"]
    factory = settings.pop("()")
    module, name = factory.rsplit(".", 1)
    formatter = getattr(__import__(module, fromlist=[name]), name)(**settings)
    record = logging.LogRecord("app", logging.INFO, "", 0, "a %s", ("b",), None)
    RequestAndTask().filter(record)
    line = json.loads(formatter.format(record))
    assert {"time", "level", "logger", "message", "request_id", "task_id"} <= set(line)
    assert (line["level"], line["logger"], line["message"]) == ("INFO", "app", "a b")


def test_the_workers_lines_for_a_task_carry_its_request_id(
    broker_urls, database_url, tmp_path
):
    """A real worker, LOG_FORMAT=json: its lines while running the task name
    the request that sent it, and the task."""
    app = make_current(
        create_app("testing", {**broker_urls, "SQLALCHEMY_DATABASE_URI": database_url})
    )
    queue = f"logs-{uuid.uuid4().hex}"
    env = {**broker_urls, "DATABASE_URL": database_url, "LOG_FORMAT": "json"}
    log = tmp_path / "worker.log"
    with worker_process(queue, env, log, pool="prefork"):
        with app.test_request_context(headers={"X-Request-ID": "from-the-edge"}):
            app.preprocess_request()
            result = sleep_for.apply_async([0.1], queue=queue)
        assert result.get(timeout=30) == 0.1
    lines = [
        json.loads(line)
        for line in log.read_text().splitlines()
        if line.startswith("{")
    ]
    mine = [line for line in lines if line["task_id"] == result.id]
    assert any("succeeded" in line["message"] for line in mine)
    assert {line["request_id"] for line in mine} == {"from-the-edge"}
