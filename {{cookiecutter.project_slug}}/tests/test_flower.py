"""Flower, wired to the project's Celery app, sees the worker."""

import base64
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
import uuid

from conftest import PROJECT_DIR, free_port, wait_for, worker_process

LOGIN = "admin:flower-test-password"


def run_flower(broker_urls: dict, port: int, log, *options: str) -> subprocess.Popen:
    """`celery -A celery_worker.celery flower OPTIONS` on `port`."""
    env = {
        **os.environ,
        **broker_urls,
        "APP_ENV": "development",
        "PYTHONPATH": str(PROJECT_DIR),
        "FLOWER_BASIC_AUTH": LOGIN,
        "FLOWER_PORT": str(port),
    }
    command = [sys.executable, "-m", "celery", "-A", "celery_worker.celery"]
    return subprocess.Popen(
        [*command, "flower", *options],
        cwd=PROJECT_DIR,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )


def test_flower_lists_the_worker_behind_a_login(broker_urls, tmp_path):
    """Its API and its metrics need the login; with it, it lists the worker."""
    queue = f"flower-{uuid.uuid4().hex}"
    port = free_port()
    with worker_process(queue, broker_urls, tmp_path / "worker.log", pool="threads"):
        flower = run_flower(broker_urls, port, tmp_path / "flower.log")
        try:
            url = f"http://127.0.0.1:{port}/api/workers?refresh=1"
            wait_for(lambda: status(url) is not None, 30, "Flower to answer")
            assert status(url) == 401
            wait_for(lambda: any(n.startswith(queue) for n in workers(url)), 30, url)
            metrics = f"http://127.0.0.1:{port}/metrics"
            assert status(metrics) == 401
            assert status(metrics, LOGIN) == 200
            # Left open on purpose, for load balancers: it says only "OK".
            assert status(f"http://127.0.0.1:{port}/healthcheck") == 200
        finally:
            flower.terminate()
            flower.wait(30)


def status(url: str, login: str | None = None) -> int | None:
    """The HTTP status of GET `url`, or None while nothing listens."""
    try:
        with urllib.request.urlopen(request(url, login), timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


def workers(url: str) -> dict:
    with urllib.request.urlopen(request(url, LOGIN), timeout=10) as response:
        return json.load(response)


def request(url: str, login: str | None) -> urllib.request.Request:
    headers = {}
    if login:
        headers["Authorization"] = "Basic " + base64.b64encode(login.encode()).decode()
    return urllib.request.Request(url, headers=headers)


def test_flower_refuses_to_start_without_a_login_outside_development():
    """In production, Flower without FLOWER_BASIC_AUTH stops with a message."""
    env = {**os.environ, "APP_ENV": "production", "FLOWER_BASIC_AUTH": ""}
    completed = subprocess.run(
        [sys.executable, "flowerconfig.py"],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode != 0
    assert "FLOWER_BASIC_AUTH" in completed.stderr


def test_a_stock_flower_still_serves_its_metrics_without_the_login(
    broker_urls, tmp_path
):
    """The bug app/platform/flower_metrics_login.py works around, reproduced:
    Flower's own settings (no flowerconfig.py), a login, /metrics open.

    The day this fails, Flower fixed it: delete the workaround module.
    """
    port = free_port()
    options = ("--conf=/dev/null", f"--basic-auth={LOGIN}", f"--port={port}")
    stock = run_flower(broker_urls, port, tmp_path / "flower.log", *options)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: status(f"{url}/healthcheck") == 200, 30, "Flower to answer")
        assert status(f"{url}/api/workers") == 401
        assert status(f"{url}/metrics") == 200
    finally:
        stock.terminate()
        stock.wait(30)
