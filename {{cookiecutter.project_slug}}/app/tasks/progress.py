"""A long task that reports its progress and can be cancelled."""

import logging
import time

from celery import Task, shared_task, states
from celery.backends.base import KeyValueStoreBackend
from celery.exceptions import Ignore

from app.history import record_final_state, record_progress
from app.models.job import PROGRESS
from app.platform.errors import BROKER_ERRORS

logger = logging.getLogger(__name__)

# Seconds between progress reports (and cancel checks). The page polls at
# most this often, so reporting faster would only load Redis and the
# database: each report is a result-store write and a row update.
REPORT_INTERVAL = 0.25


# The walk is idempotent (a rerun starts over), so it is acknowledged only
# once it has finished: a worker that dies mid-walk leaves it to another.
# https://docs.celeryq.dev/en/stable/userguide/tasks.html#Task.acks_late
@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True)
def walk(self: Task, total: int = 10, delay: float = 0.5) -> dict[str, int]:
    """Take `total` steps of `delay` seconds, reporting `current`/`total`.

    Between steps, at most every REPORT_INTERVAL seconds, it reports its
    progress (to the result store, which status polls read, and to its job
    row in the task history) and looks for a cancel request, so cancelling
    works on every worker pool (revoke with `terminate` works on prefork only).
    """
    job_id = self.request.id
    next_report = 0.0
    try:
        for current in range(total):
            if time.monotonic() >= next_report:
                if cancel_requested(self):
                    # The row first, as for every final state: whoever sees
                    # REVOKED in the status then finds it in the history too.
                    record_final_state(job_id, states.REVOKED, current)
                    self.backend.mark_as_revoked(job_id, reason="cancelled")
                    raise Ignore()
                report_progress(self, current, total)
                next_report = time.monotonic() + REPORT_INTERVAL
            time.sleep(delay)
    except Ignore:
        raise
    except Exception:
        record_final_state(job_id, states.FAILURE)
        raise
    record_final_state(job_id, states.SUCCESS, total)
    return {"current": total, "total": total}


def cancel_requested(task: Task) -> bool:
    """True once DELETE /tasks/<id> has asked the task to stop.

    While the result store is away (Redis restarting), the answer is no:
    the walk goes on, and sees the request when the store is back.
    """
    try:
        return bool(task.backend.get(cancel_key(task.backend, task.request.id)))
    except BROKER_ERRORS as error:
        logger.warning("Cancel check of %s skipped: %r", task.request.id, error)
        return False


def report_progress(task: Task, current: int, total: int) -> None:
    """Progress to the result store (status polls) and to the job row.

    A report the result store cannot take is skipped, not fatal: a blip of
    Redis must not cost the walk.
    """
    try:
        task.update_state(state=PROGRESS, meta={"current": current, "total": total})
    except BROKER_ERRORS as error:
        logger.warning("Progress of %s not stored: %r", task.request.id, error)
    record_progress(task.request.id, current, total)


def request_cancel(task_id: str) -> None:
    """Ask task `task_id` to stop; it marks itself REVOKED at its next step.

    The request is a key beside the task's result, so it reaches whichever
    worker runs the task, expires with the result, and cannot race with the
    task's own progress reports.
    """
    walk.backend.set(cancel_key(walk.backend, task_id), "1")


def cancel_key(backend: KeyValueStoreBackend, task_id: str) -> bytes | str:
    return backend.get_key_for_task(task_id, key=":cancel")
