"""Job history: a row per task started from the API, its progress and its end.

The web process commits a job before it sends the task, so a worker never
looks for a row that is not there yet. The task class (app/platform/celery.py)
records the end of every task started here; a long task reports its
progress with `record_progress`. A worker's writes are guarded by
`finished_at IS NULL`, so a task delivered twice (its first worker died)
still leaves one row with one final state.

Rows live as long as task results do (`result_expires`, a day): `tidy`
prunes older ones and gives a row whose final write was lost (the database
was away at the end) the state the result store has.
"""

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from celery import Task, states
from flask import current_app
from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import SQLAlchemyError

from app.models import Job, db
from app.models.base import utcnow
from app.models.job import PROGRESS

logger = logging.getLogger(__name__)

# GET /tasks lists a client's newest jobs, at most this many.
MAX_LISTED = 100
# The message header that tells the task class it runs a job.
JOB_HEADER = "job"
# Built once and given its values when run, so that SQLAlchemy compiles it
# once: built per call with .values(), it costs more CPU than its round trip.
INSERT_JOB = insert(Job)


def start_job(
    task: Task,
    options: dict[str, Any],
    job_id: str,
    owner: str,
    account_id: int | None = None,
    **send_options: Any,
) -> None:
    """Store the job, then send its task with `options` as keyword arguments.

    `owner` is the browser that starts it, `account_id` the account signed
    in there. A broker that refuses the task (down, full) leaves no row
    behind: the error goes on to the caller (a 503).
    """
    job = {
        "id": job_id,
        "kind": task.name.rsplit(".", 1)[-1],
        "options": options,
        "owner": owner,
        "account_id": account_id,
        "total": options.get("total", 0),
    }
    with autocommit() as connection:
        connection.execute(INSERT_JOB, job)
    try:
        task.apply_async(
            kwargs=options, task_id=job_id, headers={JOB_HEADER: True}, **send_options
        )
    except Exception:
        with autocommit() as connection:
            connection.execute(delete(Job).where(Job.id == job_id))
        raise


def jobs_of(owner: str | None = None, account_id: int | None = None) -> list[Job]:
    """The jobs of an account, or else those a browser started signed out,
    that have not expired, newest first."""
    if account_id is not None:
        mine = Job.account_id == account_id
    else:
        mine = (Job.owner == owner) & Job.account_id.is_(None)
    query = (
        select(Job)
        .where(mine, Job.created_at > oldest_kept())
        .order_by(Job.created_at.desc())
        .limit(MAX_LISTED)
    )
    return list(db.session.scalars(query))


def job_of_account(job_id: str, account_id: int) -> bool:
    """True if the job belongs to the account (one read by primary key)."""
    job = db.session.get(Job, job_id)
    return job is not None and job.account_id == account_id


def adopt_jobs(owner: str, account_id: int) -> None:
    """The jobs a browser started signed out become the account's."""
    db.session.execute(
        update(Job)
        .where(Job.owner == owner, Job.account_id.is_(None))
        .values(account_id=account_id)
    )
    db.session.commit()


def record_progress(job_id: str, current: int, total: int) -> None:
    """A running task's numbers (a worker calls this as often as it reports)."""
    write_unfinished(job_id, state=PROGRESS, current=current, total=total)


def record_end(job_id: str, state: str, current: int | None = None) -> None:
    """The task's end; only the first final state of a job is kept.

    A job that succeeded has done every step, unless `current` says otherwise.
    """
    values: dict[str, Any] = {"state": state, "finished_at": utcnow()}
    if current is not None:
        values["current"] = current
    elif state == states.SUCCESS:
        values["current"] = Job.total
    write_unfinished(job_id, **values)


def write_unfinished(job_id: str, **values: Any) -> None:
    """Update the job unless it has finished.

    The history is a record, not the work: a database that is down or slow
    is logged, and the task carries on.
    """
    statement = (
        update(Job).where(Job.id == job_id, Job.finished_at.is_(None)).values(**values)
    )
    try:
        with autocommit() as connection:
            connection.execute(statement)
    except SQLAlchemyError as error:
        logger.warning("Job %s not updated in the history: %r", job_id, error)


@contextmanager
def autocommit() -> Iterator[Connection]:
    """A connection of its own, each statement committing itself.

    Its own, so that a write of the history never commits the caller's
    unfinished work (a task's, a request's). In autocommit, so that the
    statement is the whole transaction: one round trip instead of three
    (BEGIN, the statement, COMMIT), and no row stays locked between a
    statement and its COMMIT (a worker cut off there would keep it locked
    for the worker its task is handed to). Right for one statement; several
    that must stand or fall together belong in one ordinary transaction.
    https://docs.sqlalchemy.org/en/20/core/connections.html#setting-transaction-isolation-levels-including-dbapi-autocommit
    """
    with db.engine.connect() as connection:
        yield connection.execution_options(isolation_level="AUTOCOMMIT")


def tidy(backend) -> tuple[int, int]:
    """Prune expired jobs; end the unfinished ones the result store has ended.

    Returns (rows ended, rows pruned).
    """
    ended = 0
    unfinished = select(Job.id).where(Job.finished_at.is_(None))
    for job_id in db.session.scalars(unfinished):
        meta = backend.get_task_meta(job_id)
        if meta["status"] in states.READY_STATES:
            record_end(job_id, meta["status"])
            ended += 1
    pruned = db.session.execute(delete(Job).where(Job.created_at <= oldest_kept()))
    db.session.commit()
    return ended, pruned.rowcount


def oldest_kept():
    """Jobs created before this are gone from the result store: pruned."""
    seconds = current_app.config["CELERY"]["result_expires"]
    return utcnow() - timedelta(seconds=seconds)
