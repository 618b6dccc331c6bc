"""Every task runs in an app context and a database session of its own,
on every worker pool."""

import uuid

import pytest
from conftest import worker_process

from app import create_app
from app.history import record_new_job
from app.models import Job, db


@pytest.mark.parametrize("pool", ["prefork", "threads", "solo", "gevent"])
def test_tasks_use_the_app_and_the_database_on_every_pool(
    app, broker_urls, database_url, pool, tmp_path
):
    """A mail task renders templates (current_app); walks write their rows."""
    queue = f"pool-{pool}-{uuid.uuid4().hex}"
    log = tmp_path / "worker.log"
    # No MAIL_SERVER: the development config writes the mail to the log.
    settings = {**broker_urls, "DATABASE_URL": database_url, "MAIL_SERVER": ""}
    job_ids = [f"job-{pool}-{index}" for index in range(4)]
    with app.app_context():
        for job_id in job_ids:
            record_new_job(job_id, "walk", {"total": 3, "delay": 0.05}, owner="test")
    with worker_process(queue, settings, log, pool):
        # The project's own Celery, so that the queue is declared as the
        # worker declares it (on RabbitMQ: quorum, a topic exchange).
        client = create_app("testing", broker_urls).extensions["celery"]
        mail = client.send_task(
            "app.tasks.email.send_test_email", ["ada@example.com"], queue=queue
        )
        walks = [
            client.send_task(
                "app.tasks.progress.walk",
                kwargs={"total": 3, "delay": 0.05},
                task_id=job_id,
                queue=queue,
            )
            for job_id in job_ids
        ]
        for result in (mail, *walks):
            result.get(timeout=60)
    assert "To: ada@example.com" in log.read_text()
    with app.app_context():
        rows = db.session.query(Job).filter(Job.id.in_(job_ids)).all()
        assert sorted((row.state, row.current) for row in rows) == [("SUCCESS", 3)] * 4
    assert "not updated in the history" not in log.read_text()
