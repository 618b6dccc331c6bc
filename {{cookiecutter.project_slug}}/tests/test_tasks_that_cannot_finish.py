"""A task that ends its worker process on every try fails after a few tries.

With acks_late and reject_on_worker_lost (as the long task and the mail
have them), a task whose worker process dies (out of memory, a crash) goes
back to the queue; Celery keeps no count, so one that kills every process
that runs it would come back forever. The task class counts redeliveries
and fails it past TASK_DELIVERY_LIMIT (app/platform/celery.py).
"""

import uuid

import pytest
from celery import states
from conftest import make_current, worker_process
from worker_tasks import end_own_process, sleep_for

from app import create_app
from app.history import JOB_HEADER
from app.models import Job, db
from app.platform.celery import DeliveryLimitExceeded

LIMIT = 3


def test_a_task_that_ends_its_worker_fails_and_the_worker_serves_on(
    broker_urls, database_url, tmp_path
):
    """Delivered LIMIT times, then FAILURE, its job row too; the next task runs."""
    settings = {**broker_urls, "SQLALCHEMY_DATABASE_URI": database_url}
    app = make_current(create_app("testing", settings))
    queue = f"doomed-{uuid.uuid4().hex}"
    env = {**broker_urls, "DATABASE_URL": database_url, "TASK_DELIVERY_LIMIT": "3"}
    log = tmp_path / "worker.log"
    job_id = uuid.uuid4().hex
    with app.app_context():
        db.session.add(Job(id=job_id, kind="end_own_process", options={}, owner="t"))
        db.session.commit()
    with worker_process(queue, env, log, pool="prefork"):
        doomed = end_own_process.apply_async(
            task_id=job_id, queue=queue, headers={JOB_HEADER: True}
        )
        with pytest.raises(DeliveryLimitExceeded, match="delivered 4 times"):
            doomed.get(timeout=120)
        assert sleep_for.apply_async([0], queue=queue).get(timeout=30) == 0
    assert log.read_text().count("raised error: WorkerLostError") == LIMIT
    with app.app_context():
        assert db.session.get(Job, job_id).state == states.FAILURE
