"""SENTRY_DSN: a view's unhandled exception and a task's failure are reported,
with no personal data. The reports go to an endpoint of the test's own."""

import gzip
import json
import os
import subprocess
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from conftest import PROJECT_DIR, free_port, make_current, wait_for, worker_process
from worker_tasks import fail

from app import create_app


@pytest.fixture
def sentry():
    """A Sentry of our own: the events it receives (as they come), its DSN."""
    events: list[dict] = []

    class Envelopes(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            lines = body.split(b"\n")
            for header, payload in zip(lines[1::2], lines[2::2], strict=False):
                if json.loads(header).get("type") == "event":
                    events.append(json.loads(payload))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Envelopes)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield events, f"http://public@127.0.0.1:{server.server_address[1]}/1"
    server.shutdown()


def exception_types(events: list[dict]) -> list[str]:
    return [
        value["type"]
        for event in events
        for value in event.get("exception", {}).get("values", [])
    ]


A_VIEW_WITH_A_BUG = """
import os
import sys
from app import create_app
app = create_app("testing", {"SENTRY_DSN": sys.argv[1]})
app.testing = False  # a 500 answer, as in production
@app.get("/bug")
def bug():
    raise ZeroDivisionError("a bug in a view")
client = app.test_client()
# From the environment: the frame's source and sys.argv, which a report
# quotes, hold neither.
client.set_cookie("session", os.environ["TEST_COOKIE"])
answer = client.get("/bug", headers={"X-Forwarded-For": os.environ["TEST_IP"]})
print(answer.status_code)
import sentry_sdk
sentry_sdk.flush()
"""


def test_an_unhandled_exception_in_a_view_is_reported_without_personal_data(sentry):
    events, dsn = sentry
    completed = subprocess.run(
        [sys.executable, "-c", A_VIEW_WITH_A_BUG, dsn],
        cwd=PROJECT_DIR,
        env={
            **os.environ,
            "PYTHONPATH": str(PROJECT_DIR),
            "TEST_COOKIE": "secret-cookie",
            "TEST_IP": "203.0.113.9",
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert completed.stdout.strip() == "500"
    wait_for(lambda: "ZeroDivisionError" in exception_types(events), 20, "a report")
    [event] = [e for e in events if e.get("exception")]
    text = json.dumps(event)
    assert "secret-cookie" not in text and "203.0.113.9" not in text


def test_a_tasks_failure_is_reported_from_a_forked_pool_process(
    sentry, broker_urls, database_url, tmp_path
):
    """Even after the worker's main process reported an error of its own
    before forking (which once left the pool processes unable to report)."""
    events, dsn = sentry
    settings = {**broker_urls, "SQLALCHEMY_DATABASE_URI": database_url}
    make_current(create_app("testing", settings))
    queue = f"sentry-{uuid.uuid4().hex}"
    env = {
        **broker_urls,
        "DATABASE_URL": database_url,
        "SENTRY_DSN": dsn,
        "TEST_LOG_AN_ERROR_AT_START": "1",
    }
    with worker_process(queue, env, tmp_path / "worker.log", pool="prefork"):
        wait_for(lambda: events, 20, "the report of the main process")
        fail.apply_async(queue=queue)
        wait_for(lambda: "RuntimeError" in exception_types(events), 30, "a report")
