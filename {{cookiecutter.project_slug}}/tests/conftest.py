"""Fixtures: the app on an in-memory queue, and the app with a real worker.

Every test runs on a real database: `TEST_DATABASE_URL` when set (its
tables are dropped and rebuilt by the migrations), else a SQLite file of
the test session. Tables are emptied after each test.

Tests that use `live_app` or `live_client` run tasks through a real
`celery worker` process on a real broker: `CELERY_BROKER_URL` (and
`CELERY_RESULT_BACKEND`) when set, else a private `redis-server` that the
fixture starts on a free port. Mail from that worker goes to a real SMTP
server (aiosmtpd) in this process.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from celery.signals import before_task_publish
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import upgrade
from kombu import Connection
from sqlalchemy import MetaData

from app import create_app
from app.config import BaseConfig
from app.models import db

PROJECT_DIR = Path(__file__).resolve().parent.parent
# Seconds a worker may take to stop after SIGTERM. Celery's warm shutdown
# can wait 30 s for one pool process: the one that finished a task just
# before the signal, if the worker had not yet read that it took the task
# (billiard's GUARANTEE_MESSAGE_CONSUMPTION_RETRY_LIMIT). Slower is stuck.
STOP_TIMEOUT = 60


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The test database, emptied, then built by the project's migrations."""
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        url = f"sqlite:///{tmp_path_factory.mktemp('database') / 'test.sqlite'}"
    app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": url})
    with app.app_context(), db.engine.begin() as connection:
        existing = MetaData()
        existing.reflect(connection)
        existing.drop_all(connection)
    with app.app_context():
        upgrade()
        db.engine.dispose()
    return url


@pytest.fixture(autouse=True)
def empty_tables_after_test(database_url: str) -> Iterator[None]:
    """Every test starts from empty tables, whichever app wrote to them."""
    yield
    app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": database_url})
    with app.app_context():
        for table in reversed(db.metadata.sorted_tables):
            db.session.execute(table.delete())
        db.session.commit()
        db.engine.dispose()


@pytest.fixture
def app(database_url: str) -> Flask:
    """The app with the testing config: in-memory queue, mail kept in a list."""
    return make_current(
        create_app("testing", {"SQLALCHEMY_DATABASE_URI": database_url})
    )


@pytest.fixture
def on_postgresql(database_url: str) -> None:
    """Skips a test of what only PostgreSQL has (timeouts) on SQLite."""
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only: set TEST_DATABASE_URL to run this")


@pytest.fixture
def postgresql(app: Flask, on_postgresql: None) -> Iterator[None]:
    """The app's context, on PostgreSQL (skipped on SQLite)."""
    with app.app_context():
        yield


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client for the app."""
    return app.test_client()


@pytest.fixture
def runner(app: Flask):
    """A runner for the app's command-line commands."""
    return app.test_cli_runner()


# Fixtures that need a real broker: a test using one is marked `live`, so
# that `pytest -m "not live"` runs the rest on a machine without Redis.
LIVE_FIXTURES = {"broker_urls", "live_app", "live_client"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if LIVE_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.live)


@pytest.fixture(scope="session")
def broker_urls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """A real broker and result store, as settings for `create_app`."""
    broker_url = os.environ.get("CELERY_BROKER_URL")
    if broker_url:
        backend_url = os.environ.get("CELERY_RESULT_BACKEND") or broker_url
        yield {"CELERY_BROKER_URL": broker_url, "CELERY_RESULT_BACKEND": backend_url}
        return
    with private_redis_server(tmp_path_factory.mktemp("redis")) as server:
        yield {"CELERY_BROKER_URL": server.url, "CELERY_RESULT_BACKEND": server.url}


@pytest.fixture(scope="session")
def smtp_inbox() -> Iterator["Inbox"]:
    """A real SMTP server on a free port; the live worker sends mail to it."""
    with smtp_server() as inbox:
        yield inbox


@pytest.fixture(scope="session")
def live_app(
    broker_urls: dict,
    database_url: str,
    smtp_inbox: "Inbox",
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Flask]:
    """The app on the real broker, served by a real worker process."""
    # A queue per test session, so that runs sharing a broker never steal
    # each other's tasks.
    queue = f"tests-{uuid.uuid4().hex}"
    settings = {
        **BaseConfig.CELERY,
        "task_default_queue": queue,
        # Mail too goes to the test's own queue, the one its worker serves.
        "task_routes": {"app.tasks.email.*": {"queue": queue}},
    }
    app = create_app(
        "testing",
        {**broker_urls, "CELERY": settings, "SQLALCHEMY_DATABASE_URI": database_url},
    )
    worker_env = {
        **broker_urls,
        "DATABASE_URL": database_url,
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": str(smtp_inbox.port),
    }
    log = tmp_path_factory.mktemp("worker") / "worker.log"
    with worker_process(queue, worker_env, log, pool="threads"):
        yield app


@pytest.fixture
def live_client(live_app: Flask, smtp_inbox: "Inbox") -> FlaskClient:
    """A test client for the app served by a real worker; inbox emptied."""
    smtp_inbox.messages.clear()
    return make_current(live_app).test_client()


def csrf_token(client: FlaskClient, page: str = "/account/register") -> str:
    """The CSRF token of a form page, as a browser would send it."""
    html = client.get(page).get_data(as_text=True)
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html)[1]


@pytest.fixture
def sent_tasks() -> Iterator[list[tuple[str, tuple]]]:
    """The names and arguments of the tasks sent while the test runs."""
    sent: list[tuple[str, tuple]] = []

    def record(sender: str, body: tuple, **_: object) -> None:
        sent.append((sender, tuple(body[0])))

    before_task_publish.connect(record)
    yield sent
    before_task_publish.disconnect(record)


def make_current(app: Flask) -> Flask:
    """Make `app`'s Celery the one that `@shared_task` tasks send through.

    A process normally holds one app; tests hold several, and a shared task
    uses the Celery app made current last in this thread.
    """
    app.extensions["celery"].set_current()
    return app


@contextmanager
def worker_process(queue: str, extra_env: dict, log: Path, pool: str) -> Iterator[None]:
    """Run `celery worker` for `queue` in development mode, `extra_env` added."""
    args = ["worker", "--pool", pool, "--concurrency", "4", "-l", "INFO"]
    args += ["--queues", queue, "--hostname", f"{queue}@%h"]
    # The tests' own tasks (tests/worker_tasks.py) beside the project's.
    args += ["--include", "worker_tasks"]
    # A worker of its own: no other worker to sync with at start (mingle
    # waits a second for answers) or to gossip with.
    args += ["--without-mingle", "--without-gossip"]
    try:
        with celery_process(args, extra_env, log, ready=" ready."):
            yield
    finally:
        delete_queue(extra_env["CELERY_BROKER_URL"], queue)


@contextmanager
def celery_process(
    args: list[str], extra_env: dict, log: Path, ready: str
) -> Iterator[None]:
    """Run `celery -A celery_worker.celery ARGS` until `ready` is in its log."""
    env = {**os.environ, "APP_ENV": "development"}
    env["PYTHONPATH"] = os.pathsep.join([str(PROJECT_DIR), str(PROJECT_DIR / "tests")])
    # SIGABRT then writes every thread's stack to the log (see below).
    env["PYTHONFAULTHANDLER"] = "1"
    env.update(extra_env)
    command = [sys.executable, "-m", "celery", "-A", "celery_worker.celery", *args]
    with log.open("w") as output:
        process = subprocess.Popen(
            command, cwd=PROJECT_DIR, env=env, stdout=output, stderr=subprocess.STDOUT
        )
    try:
        wait_for(lambda: ready in log.read_text(), 60, f"{args[0]} start: {log}")
        yield
    finally:
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            # Where it is stuck: the stacks go to the log before it ends.
            process.send_signal(signal.SIGABRT)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            raise AssertionError(
                f"{args[0]} still ran {STOP_TIMEOUT} s after SIGTERM:\n"
                f"{log.read_text()[-8000:]}"
            ) from None


def delete_queue(broker_url: str, queue: str) -> None:
    """Remove a test's queue, so that a shared broker is left as it was."""
    with Connection(broker_url) as connection:
        connection.default_channel.queue_delete(queue)


class Inbox:
    """An SMTP handler that keeps what it receives, or answers `reply`."""

    def __init__(self, port: int, reply: str | None = None) -> None:
        self.port, self.reply = port, reply
        self.messages: list[bytes] = []

    async def handle_DATA(self, server, session, envelope) -> str:
        if self.reply:
            return self.reply
        self.messages.append(envelope.content)
        return "250 OK"


@contextmanager
def smtp_server(reply: str | None = None, **options: object) -> Iterator[Inbox]:
    """An aiosmtpd server on a free port; it answers `reply` to every message.

    `options` go to aiosmtpd's Controller (TLS, authentication).
    """
    inbox = Inbox(free_port(), reply)
    controller = Controller(inbox, hostname="127.0.0.1", port=inbox.port, **options)
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()


class RedisServer:
    """A throwaway redis-server on a free port; `stop()` and `start()` keep it.

    With `persistent`, the append-only file is on, synced on every write.
    Without redis-server the live tests are skipped, saying why, so that the
    rest still runs; under CI=true they fail instead: CI must run them all.
    """

    def __init__(self, folder: Path, persistent: bool = False) -> None:
        self.executable = shutil.which("redis-server")
        if self.executable is None:
            reason = (
                "live test: no broker. Install redis-server (apt install "
                "redis-server, brew install redis) or set CELERY_BROKER_URL."
            )
            if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
                pytest.fail(reason)
            pytest.skip(reason)
        self.folder, self.persistent = folder, persistent
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> "RedisServer":
        persistence = ["--appendonly", "yes", "--appendfsync", "always"]
        command = [self.executable, "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--dir", str(self.folder)]
        command += persistence if self.persistent else ["--appendonly", "no"]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        wait_for(lambda: port_is_open(self.port), 10, f"redis-server on {self.port}")
        return self

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


@contextmanager
def private_redis_server(
    folder: Path, persistent: bool = False
) -> Iterator[RedisServer]:
    """A RedisServer, running for the block."""
    server = RedisServer(folder, persistent).start()
    try:
        yield server
    finally:
        if server.process.poll() is None:
            server.stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_is_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def wait_for(condition, timeout: float, what: str) -> None:
    """Wait until `condition()` is true; fail naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up waiting for {what} after {timeout} s")
        time.sleep(0.05)
