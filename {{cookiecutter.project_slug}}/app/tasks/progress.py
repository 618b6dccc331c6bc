"""A long task with steps: it reports its progress and can be cancelled."""

import logging
import time

from celery import Task, shared_task, states
from celery.exceptions import Ignore

from app.history import record_end, record_progress
from app.models.job import PROGRESS
from app.platform.errors import BROKER_ERRORS

logger = logging.getLogger(__name__)

# Seconds between progress reports (and cancel checks). The page polls at
# most this often; each report is a result-store write and a row update.
REPORT_INTERVAL = 0.25


# Safe to run twice (a rerun starts over), so it is acknowledged only once
# it has ended: a worker that dies mid-task leaves it to another.
# https://docs.celeryq.dev/en/stable/userguide/tasks.html#Task.acks_late
@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True)
def long_task(self: Task, total: int = 10, delay: float = 0.5) -> dict[str, int]:
    """Take `total` steps of `delay` seconds, reporting `current`/`total`.

    Between steps, at most every REPORT_INTERVAL seconds, it reports its
    progress and looks for a cancel request (DELETE /tasks/<id>), so that
    cancelling works on every worker pool.
    """
    next_report = 0.0
    for current in range(total):
        if time.monotonic() >= next_report:
            if cancel_requested(self):
                record_end(self.request.id, states.REVOKED, current)
                self.backend.mark_as_revoked(self.request.id, reason="cancelled")
                raise Ignore()
            report_progress(self, current, total)
            next_report = time.monotonic() + REPORT_INTERVAL
        time.sleep(delay)
    return {"current": total, "total": total}


def report_progress(task: Task, current: int, total: int) -> None:
    """Progress to the result store (status polls) and to the job's row.

    A report the result store cannot take now is skipped: Redis being away
    for a moment must not cost the task.
    """
    try:
        task.update_state(state=PROGRESS, meta={"current": current, "total": total})
    except BROKER_ERRORS as error:
        logger.warning("Progress of %s not stored: %r", task.request.id, error)
    record_progress(task.request.id, current, total)


def request_cancel(task_id: str) -> None:
    """Ask task `task_id` to stop; it ends REVOKED at its next report.

    The request is a key beside the task's result, so it reaches whichever
    worker runs the task, expires with the result, and cannot race with the
    task's own progress reports.
    """
    long_task.backend.set(cancel_key(task_id), "1")


def cancel_requested(task: Task) -> bool:
    """True once the task was asked to stop; no while the store is away."""
    try:
        return bool(task.backend.get(cancel_key(task.request.id)))
    except BROKER_ERRORS as error:
        logger.warning("Cancel check of %s skipped: %r", task.request.id, error)
        return False


def cancel_key(task_id: str) -> str:
    return long_task.backend.get_key_for_task(task_id, key=":cancel")
