"""Task history: the `jobs` rows the API writes and the workers update.

The web process commits a job before it sends the task, so a worker never
looks for a row that is not there yet. A worker's writes are single UPDATEs
guarded by `finished_at IS NULL`, each committed by itself: a task delivered
twice (its first worker died mid-run) still leaves one row with one final
state, and no write leaves the row locked.
"""

import logging
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import SQLAlchemyError

from app.models import Job, db
from app.models.base import utcnow
from app.models.job import PROGRESS

logger = logging.getLogger(__name__)

# GET /tasks lists a client's newest jobs, at most this many.
MAX_LISTED = 100


def record_new_job(job_id: str, kind: str, options: dict[str, Any], owner: str) -> None:
    """Store a job about to be sent, and commit it before it is.

    This runs on every POST /tasks: one INSERT that commits itself, one
    round trip to the database instead of three (BEGIN, INSERT, COMMIT),
    and no object for the ORM to track, as nothing else reads it.
    """
    row = {
        "id": job_id,
        "kind": kind,
        "options": options,
        "owner": owner,
        "total": options.get("total", 0),
    }
    with autocommit() as connection:
        connection.execute(insert(Job), row)


def forget_job(job_id: str) -> None:
    """Remove a job whose task could not be sent: it will never run."""
    with autocommit() as connection:
        connection.execute(delete(Job).where(Job.id == job_id))


def autocommit() -> Connection:
    """A connection of its own on which each statement is its own transaction.

    Right for a single statement (atomic on its own), not for several that
    must stand or fall together: those belong in `db.session`.
    """
    return db.engine.connect().execution_options(isolation_level="AUTOCOMMIT")


def jobs_of(owner: str) -> list[Job]:
    """The jobs `owner` started, newest first."""
    query = (
        select(Job)
        .where(Job.owner == owner)
        .order_by(Job.created_at.desc())
        .limit(MAX_LISTED)
    )
    return list(db.session.scalars(query))


def record_progress(job_id: str, current: int, total: int) -> None:
    """A running task's numbers (a worker calls this as often as it reports)."""
    write_unfinished(job_id, state=PROGRESS, current=current, total=total)


def record_final_state(job_id: str, state: str, current: int | None = None) -> None:
    """The task's end; only the first final state of a job is kept."""
    values: dict[str, Any] = {"state": state, "finished_at": utcnow()}
    if current is not None:
        values["current"] = current
    write_unfinished(job_id, **values)


def write_unfinished(job_id: str, **values: Any) -> None:
    """Update the job unless it has finished, in one statement that commits itself.

    Not UPDATE, then COMMIT: between the two the row stays locked, and a
    worker cut off there (its host's link down) would keep it locked until
    the server notices, hours later with TCP's defaults, while the worker
    the task is handed to waits the lock timeout on each of its reports.

    The history is a record, not the work: a database that is down or slow
    is logged, and the task carries on (its result store has the truth).
    """
    statement = (
        update(Job).where(Job.id == job_id, Job.finished_at.is_(None)).values(**values)
    )
    try:
        with autocommit() as connection:
            connection.execute(statement)
    except SQLAlchemyError as error:
        logger.warning("Job %s not updated in the history: %r", job_id, error)
