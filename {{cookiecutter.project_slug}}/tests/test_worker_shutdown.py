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


def manage_py_worker(queue: str, env: dict, log, pool: str) -> subprocess.Popen:
    command = [sys.executable, "manage.py", "worker", "--pool", pool]
    command += ["--concurrency", "1", "--queues", queue, "--hostname", f"{queue}@%h"]
    command += ["--without-mingle", "--without-gossip"]
    with log.open("w") as output:
        return subprocess.Popen(
            command, cwd=PROJECT_DIR, env=env, stdout=output, stderr=subprocess.STDOUT
        )


@pytest.mark.parametrize("pool", ["prefork", "threads"])
def test_sigterm_hands_a_running_task_to_the_next_worker(
    pool, broker_urls, database_url, tmp_path
):
    """The worker exits within seconds; another worker runs the task to its end."""
    app = make_current(create_app("testing", {**broker_urls}))
    queue = f"stop-{pool}-{uuid.uuid4().hex}"
    env = {**os.environ, **broker_urls, "APP_ENV": "development"}
    env.update(DATABASE_URL=database_url, PYTHONPATH=str(PROJECT_DIR))
    env.pop("REMAP_SIGTERM", None)  # manage.py worker sets it
    log = tmp_path / "stopping.log"
    worker = manage_py_worker(queue, env, log, pool)
    try:
        wait_for(lambda: " ready." in log.read_text(), 60, f"worker start: {log}")
        with app.app_context():
            result = long_task.apply_async(
                kwargs={"total": 60, "delay": 0.1}, queue=queue
            )
        wait_for(lambda: "received" in log.read_text(), 30, f"the task: {log}")
        worker.send_signal(signal.SIGTERM)
        stopped = time.monotonic()
        worker.wait(30)
        print(f"\n{pool}: stopped {time.monotonic() - stopped:.1f} s after SIGTERM")
    finally:
        worker.kill()
        worker.wait()
    assert "Initiating Soft Shutdown" in log.read_text(), log.read_text()
    with worker_process(queue, broker_urls, tmp_path / "next.log", pool="threads"):
        assert result.get(timeout=60) == {"current": 60, "total": 60}
