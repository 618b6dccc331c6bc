"""SIGTERM, as compose and Kubernetes send it, stops a worker softly.

`python manage.py worker` (and the Docker image) run Celery with
REMAP_SIGTERM=SIGQUIT: running tasks get `worker_soft_shutdown_timeout`
seconds to end, then those still running go back to the broker for another
worker, instead of holding the stop until they end.
https://docs.celeryq.dev/en/stable/userguide/workers.html#worker-soft-shutdown
"""

import os
import signal
import subprocess
import sys
import time
import uuid

import pytest
from conftest import PROJECT_DIR, make_current, wait_for, worker_process

from app import create_app
from app.tasks.progress import long_task
from manage import pool_of


def manage_py_worker(queue: str, env: dict, log) -> subprocess.Popen:
    command = [sys.executable, "manage.py", "worker"]
    command += ["--concurrency", "1", "--queues", queue, "--hostname", f"{queue}@%h"]
    command += ["--without-mingle", "--without-gossip"]
    with log.open("w") as output:
        return subprocess.Popen(
            command, cwd=PROJECT_DIR, env=env, stdout=output, stderr=subprocess.STDOUT
        )


def test_sigterm_hands_a_running_task_to_the_next_worker(
    broker_urls, database_url, tmp_path
):
    """The worker exits within seconds; another worker runs the task to its end."""
    app = make_current(create_app("testing", {**broker_urls}))
    queue = f"stop-{uuid.uuid4().hex}"
    env = {**os.environ, **broker_urls, "APP_ENV": "development"}
    env.update(DATABASE_URL=database_url, PYTHONPATH=str(PROJECT_DIR))
    env["PYTHONFAULTHANDLER"] = "1"
    env.pop("REMAP_SIGTERM", None)  # manage.py worker sets it
    log = tmp_path / "stopping.log"
    worker = manage_py_worker(queue, env, log)
    try:
        wait_for(lambda: " ready." in log.read_text(), 60, f"worker start: {log}")
        with app.app_context():
            result = long_task.apply_async(
                kwargs={"total": 150, "delay": 0.1}, queue=queue
            )
        # Running, not only received: Celery's soft shutdown waits for the
        # tasks a pool process has taken.
        wait_for(lambda: result.state == "PROGRESS", 30, f"the task: {log}")
        worker.send_signal(signal.SIGTERM)
        stopped = time.monotonic()
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.send_signal(signal.SIGABRT)  # its threads' stacks, to the log
            worker.wait(10)
            raise AssertionError(f"still running:\n{log.read_text()[-8000:]}") from None
        print(f"\nstopped {time.monotonic() - stopped:.1f} s after SIGTERM")
    finally:
        worker.kill()
        worker.wait()
    assert "Initiating Soft Shutdown" in log.read_text(), log.read_text()
    assert f"[{result.id}] succeeded" not in log.read_text()
    next_log = tmp_path / "next.log"
    with worker_process(queue, broker_urls, next_log, pool="threads"):
        assert result.get(timeout=60) == {"current": 150, "total": 150}
    assert f"[{result.id}] succeeded" in next_log.read_text()


@pytest.mark.parametrize(
    ("arguments", "pool"),
    [
        ((), "prefork"),
        (("--concurrency", "4"), "prefork"),
        (("--pool", "threads"), "threads"),
        (("-P", "gevent"), "gevent"),
        (("--pool=solo",), "solo"),
        (("-Pthreads",), "threads"),
    ],
)
def test_the_soft_stop_is_for_the_prefork_pool(arguments, pool):
    """Threads, solo and gevent cannot stop a running task: Celery's own warm
    stop (waiting for it) is theirs."""
    assert pool_of(arguments) == pool
