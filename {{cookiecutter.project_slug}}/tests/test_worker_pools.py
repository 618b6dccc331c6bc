"""Every task runs in an app context and a database session of its own,
on every worker pool."""

import uuid

import pytest
from conftest import wait_for, worker_process

from app import create_app
from app.history import JOB_HEADER
from app.models import Job, db


@pytest.mark.parametrize("pool", ["prefork", "threads", "solo", "gevent"])
def test_tasks_use_the_app_and_the_database_on_every_pool(
    app, broker_urls, database_url, pool, tmp_path
):
    """A mail task renders templates (current_app); long tasks write their rows."""
    queue = f"pool-{pool}-{uuid.uuid4().hex}"
    log = tmp_path / "worker.log"
    # No MAIL_SERVER: the development config writes the mail to the log.
    settings = {**broker_urls, "DATABASE_URL": database_url, "MAIL_SERVER": ""}
    job_ids = [f"job-{pool}-{index}" for index in range(4)]
    options = {"total": 3, "delay": 0.05}
    with app.app_context():
        for job_id in job_ids:
            job = Job(id=job_id, kind="long_task", options=options, owner="test")
            db.session.add(job)
        db.session.commit()
    with worker_process(queue, settings, log, pool):
        # The project's own Celery, so that the queue is declared as the
        # worker declares it (on RabbitMQ: quorum, a topic exchange).
        client = create_app("testing", broker_urls).extensions["celery"]
        client.send_task(
            "app.tasks.email.send_test_email", ["ada@example.com"], queue=queue
        )
        long_tasks = [
            client.send_task(
                "app.tasks.progress.long_task",
                kwargs=options,
                task_id=job_id,
                queue=queue,
                headers={JOB_HEADER: True},
            )
            for job_id in job_ids
        ]
        for result in long_tasks:
            result.get(timeout=60)
        wait_for(lambda: "To: ada@example.com" in log.read_text(), 30, "the mail")
    with app.app_context():
        rows = db.session.query(Job).filter(Job.id.in_(job_ids)).all()
        assert sorted((row.state, row.current) for row in rows) == [("SUCCESS", 3)] * 4
    assert "not updated in the history" not in log.read_text()
