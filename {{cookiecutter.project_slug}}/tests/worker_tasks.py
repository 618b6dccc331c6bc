"""Tasks the tests send to real workers (`--include worker_tasks`).

They are declared on the project's Celery app, like the project's own, so
they run with its task class: app context, timeouts, delivery limit.
"""

import logging
import os
import signal
import time

from celery import shared_task
from sqlalchemy import text

from app.models import db

if os.environ.get("TEST_LOG_AN_ERROR_AT_START"):
    # Sent to Sentry by the worker's main process, before it forks its pool.
    logging.getLogger(__name__).error("An error before the pool starts.")


@shared_task(acks_late=True)
def sleep_for(seconds: float) -> float:
    """Take `seconds`, doing nothing; acknowledged once done, as long tasks are."""
    time.sleep(seconds)
    return seconds


@shared_task
def sleep_in_the_database(seconds: float) -> str:
    """One statement that runs `seconds` on the server; the session's timeout."""
    db.session.execute(text("SELECT pg_sleep(:seconds)"), {"seconds": seconds})
    return db.session.execute(text("SHOW statement_timeout")).scalar()


@shared_task(acks_late=True, reject_on_worker_lost=True)
def end_own_process() -> None:
    """Kill the worker process running it, as running out of memory would."""
    os.kill(os.getpid(), signal.SIGKILL)


@shared_task
def fail() -> None:
    """Raise, as a task with a bug does."""
    raise RuntimeError("a bug in a task")
