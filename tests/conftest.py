"""Fixtures shared by the template's tests: servers, the baked venv, a stack."""

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from cluster import Cluster, skip_reason
from mail import SMTPServer
from playwright.sync_api import sync_playwright
from stack import Stack
from support import (
    REPO,
    ProjectVenv,
    baked,
    free_port,
    fresh_database,
    port_is_open,
    postgres_url,
    private_redis,
    production_env,
    shared_project_venv,
)

RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672/"
# Debian's Chromium; CHROMIUM names another build (e.g. on GitHub's runners).
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
]


@pytest.fixture(scope="session")
def project_venv() -> ProjectVenv:
    """One virtualenv holding every baked project's dependencies."""
    return shared_project_venv(REPO / ".cache")


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory):
    """A private redis-server on a free port (one per test process)."""
    server = private_redis(tmp_path_factory.mktemp("redis"))
    yield server.url
    server.stop()


@pytest.fixture
def rabbitmq_url() -> Iterator[str]:
    """A virtual host of its own on the machine's RabbitMQ, deleted after.

    Tests running side by side would otherwise share its `celery` queue, and
    one test's worker would take another's tasks. (scripts/test starts
    RabbitMQ when it is missing.)
    """
    assert port_is_open("127.0.0.1", 5672), "RabbitMQ is not running on 5672"
    vhost = f"test-{uuid.uuid4().hex[:12]}"
    rabbitmqctl("add_vhost", vhost)
    rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    yield f"{RABBITMQ_URL}{vhost}"
    rabbitmqctl("delete_vhost", vhost)


def rabbitmqctl(*arguments: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *arguments], check=True, timeout=60)


@pytest.fixture(scope="module")
def smtp() -> SMTPServer:
    """An SMTP server for one test module (running unless a test stops it)."""
    server = SMTPServer(free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    """The name of a new PostgreSQL database for one test module, dropped after it."""
    with fresh_database() as name:
        yield name


@pytest.fixture(scope="module")
def database_url(database: str) -> str:
    """The URL of the module's PostgreSQL database (`database`)."""
    return postgres_url(database)


@pytest.fixture(scope="module")
def stack(cookies_session, project_venv, redis_server, database_url, tmp_path_factory):
    """The default bake in production mode: gunicorn, one worker, Redis, PostgreSQL."""
    project = baked(cookies_session)
    env = production_env(
        project_venv,
        project,
        CELERY_BROKER_URL=redis_server,
        DATABASE_URL=database_url,
    )
    yield from running_stack(project, project_venv, env, tmp_path_factory)


def running_stack(project, venv, env, tmp_path_factory):
    """Migrate, start a worker and gunicorn for `project`; stop them, empty Redis."""
    running = Stack(project, venv, env, tmp_path_factory.mktemp("logs"))
    try:
        running.migrate()
        running.start_worker("worker", "--concurrency", "2")
        running.start_web()
        yield running
    finally:
        running.stop()
        redis.Redis.from_url(env["CELERY_BROKER_URL"]).flushdb()


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    """A broker, a web and two worker hosts, joined by a bridge (tests/cluster.py)."""
    reason = skip_reason()
    if reason:
        if os.environ.get("CI") == "true" and os.geteuid() == 0:
            pytest.fail(f"CI runs as root, yet: {reason}")
        pytest.skip(reason)
    with Cluster() as running:
        for name in ("broker", "web", "a", "b"):
            running.add_host(name)
        yield running


@pytest.fixture(scope="module")
def chromium():
    """Headless Chromium driven by Playwright (its own download is not used)."""
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: apt-get install chromium"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failing test that ran a stack shows its processes' logs."""
    outcome = yield
    report = outcome.get_result()
    running = item.funcargs.get("stack") if hasattr(item, "funcargs") else None
    if report.failed and isinstance(running, Stack):
        report.sections.append(("processes' logs", running.logs()))
