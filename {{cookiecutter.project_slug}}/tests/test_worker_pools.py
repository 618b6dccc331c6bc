"""Every task runs in an app context of its own, on every worker pool."""

import uuid

import pytest
from celery import Celery
from conftest import worker_process


@pytest.mark.parametrize("pool", ["prefork", "threads", "solo", "gevent"])
def test_task_sees_current_app_on_every_pool(broker_urls, pool, tmp_path):
    """A task that renders templates (it needs current_app) succeeds."""
    queue = f"pool-{pool}-{uuid.uuid4().hex}"
    log = tmp_path / "worker.log"
    # No MAIL_SERVER: the development config writes the mail to the log.
    with worker_process(queue, {**broker_urls, "MAIL_SERVER": ""}, log, pool):
        client = Celery(
            broker=broker_urls["CELERY_BROKER_URL"],
            backend=broker_urls["CELERY_RESULT_BACKEND"],
        )
        result = client.send_task(
            "app.tasks.email.send_test_email", ["ada@example.com"], queue=queue
        )
        result.get(timeout=60)
    assert result.state == "SUCCESS"
    assert "To: ada@example.com" in log.read_text()
