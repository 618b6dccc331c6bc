"""SIGTERM stops a worker softly (app/platform/worker_shutdown.py)."""

import os
import signal
import subprocess
import sys

import pytest
from conftest import PROJECT_DIR, wait_for

from app.platform.worker_shutdown import SigtermRelay


@pytest.mark.parametrize("pool", ["prefork", "threads"])
def test_sigterm_stops_a_prefork_worker_on_redis_softly(pool, broker_urls, tmp_path):
    """SIGTERM to the worker's main process, as compose and Kubernetes send it.

    Prefork on Redis takes it as SIGQUIT: Celery's cold shutdown, which
    waits WORKER_SOFT_SHUTDOWN_SECONDS for running tasks first (its own
    answer to SIGTERM, a warm shutdown, waits however long they run). Pools
    that cannot stop a running task, and RabbitMQ, keep the warm shutdown.
    """
    on_redis = not broker_urls["CELERY_BROKER_URL"].startswith("amqp")
    shutdown = "Cold" if pool == "prefork" and on_redis else "Warm"
    env = {**os.environ, **broker_urls, "APP_ENV": "development"}
    env["PYTHONPATH"] = str(PROJECT_DIR)
    env.pop("REMAP_SIGTERM", None)  # the switch Celery offers, not needed
    log = tmp_path / "worker.log"
    command = [sys.executable, "-m", "celery", "-A", "celery_worker.celery"]
    command += ["worker", "--pool", pool, "--concurrency", "1", "-l", "INFO"]
    command += ["--hostname", f"stop-{pool}@%h"]
    with log.open("w") as output:
        worker = subprocess.Popen(
            command, cwd=PROJECT_DIR, env=env, stdout=output, stderr=subprocess.STDOUT
        )
    try:
        wait_for(lambda: " ready." in log.read_text(), 60, f"worker start: {log}")
        worker.send_signal(signal.SIGTERM)
        worker.wait(30)
    finally:
        worker.kill()
        worker.wait()
    text = log.read_text()
    assert f"{shutdown} shutdown" in text, text
    assert "Error" not in text, text


def test_sigterm_is_passed_on_from_the_event_loop_not_the_handler(monkeypatch):
    """The handler only counts: Celery's shutdown must not run where the
    signal interrupted the worker, maybe inside a Redis call holding a lock.
    """
    sent = []
    monkeypatch.setattr(os, "kill", lambda pid, signum: sent.append(signum))
    relay = SigtermRelay(deferred=True)
    relay.on_sigterm(signal.SIGTERM, None)
    assert sent == []
    relay.pass_on()  # the event loop's next look
    relay.pass_on()
    assert sent == [signal.SIGQUIT]
    # Once shutting down, a further SIGTERM asks for a harder stop at once.
    relay.on_sigterm(signal.SIGTERM, None)
    assert sent == [signal.SIGQUIT, signal.SIGQUIT]


def test_without_an_event_loop_sigterm_is_passed_on_at_once(monkeypatch):
    sent = []
    monkeypatch.setattr(os, "kill", lambda pid, signum: sent.append(signum))
    SigtermRelay(deferred=False).on_sigterm(signal.SIGTERM, None)
    assert sent == [signal.SIGQUIT]
