"""A worker on Redis lives through a Redis restart under a running task.

The workaround is app/platform/redis_channel_close.py; the first test
reproduces the bug with Celery and kombu alone.
"""

import os
import subprocess
import sys
import time
import uuid

import kombu
import pytest
from celery import Celery
from conftest import make_current, private_redis_server, wait_for, worker_process
from worker_tasks import sleep_for

from app import create_app
from app.platform.redis_channel_close import RedisTransport

PLAIN_CELERY_APP = """
import os, time
from celery import Celery

app = Celery("plain", broker=os.environ["REDIS_URL"], backend=os.environ["REDIS_URL"])
app.conf.worker_cancel_long_running_tasks_on_connection_loss = False


@app.task(acks_late=True)
def slow():
    time.sleep(6)
"""


def restart(redis) -> None:
    """Stop Redis for a second, then start it again on its port."""
    redis.stop()
    time.sleep(1)
    redis.start()


# The kombu release that brought the bug; 5.6 lives through the restart.
BROKEN_SINCE = (5, 7)


def test_a_plain_celery_worker_dies_when_redis_restarts_under_a_task(tmp_path):
    """The bug, with Celery's and kombu's own classes: "Unrecoverable error"
    from kombu 5.7 on (the version installed decides what is expected).

    The day this fails on a newer kombu, kombu fixed it: delete the
    workaround module.
    """
    broken = tuple(map(int, kombu.__version__.split(".")[:2])) >= BROKEN_SINCE
    (tmp_path / "plain.py").write_text(PLAIN_CELERY_APP)
    with private_redis_server(tmp_path, persistent=True) as redis:
        # Celery's own variables would override the plain app's broker.
        env = {k: v for k, v in os.environ.items() if not k.startswith("CELERY_")}
        env.update(REDIS_URL=redis.url, PYTHONPATH=str(tmp_path))
        log = tmp_path / "worker.log"
        command = [sys.executable, "-m", "celery", "-A", "plain", "worker"]
        command += ["--concurrency", "1", "-l", "INFO", "--without-mingle"]
        with log.open("w") as output:
            worker = subprocess.Popen(
                command, cwd=tmp_path, env=env, stdout=output, stderr=output
            )
        try:
            wait_for(lambda: " ready." in log.read_text(), 60, f"worker: {log}")
            # broker_write_url: CELERY_BROKER_URL in the environment must not win.
            Celery(broker_write_url=redis.url).send_task("plain.slow")
            wait_for(lambda: "received" in log.read_text(), 30, f"task: {log}")
            restart(redis)
            if broken:
                wait_for(lambda: worker.poll() is not None, 30, "the worker to die")
            else:
                wait_for(lambda: "succeeded" in log.read_text(), 30, f"the task: {log}")
        finally:
            worker.kill()
            worker.wait()
    assert ("Unrecoverable error: AttributeError" in log.read_text()) is broken


def test_the_projects_worker_lives_through_a_redis_restart(database_url, tmp_path):
    """The task running through it ends SUCCESS, once; then the next one runs."""
    with private_redis_server(tmp_path, persistent=True) as redis:
        settings = {"CELERY_BROKER_URL": redis.url, "CELERY_RESULT_BACKEND": redis.url}
        database = {"SQLALCHEMY_DATABASE_URI": database_url}
        make_current(create_app("testing", {**settings, **database}))
        queue = f"tests-{uuid.uuid4().hex}"
        log = tmp_path / "worker.log"
        env = {**settings, "DATABASE_URL": database_url}
        with worker_process(queue, env, log, pool="prefork"):
            running = sleep_for.apply_async([4], queue=queue)
            wait_for(lambda: "received" in log.read_text(), 30, f"task: {log}")
            restart(redis)
            assert running.get(timeout=60) == 4
            assert sleep_for.apply_async([0], queue=queue).get(timeout=30) == 0
        assert log.read_text().count(f"[{running.id}] succeeded") == 1


@pytest.mark.parametrize(
    "url", ["redis://localhost:6379/0", "rediss://localhost:6380/0"]
)
def test_the_worker_connects_with_the_workaround_and_the_urls_scheme(url):
    """The banner and Flower still see redis:// (rediss://: TLS stays on)."""
    app = create_app("testing", {"CELERY_BROKER_URL": url})
    with app.extensions["celery"].connection_for_read() as connection:
        assert connection.get_transport_cls() is RedisTransport
        assert connection.as_uri().startswith(url.split("://")[0] + "://")
        assert bool(connection.ssl) == url.startswith("rediss://")
