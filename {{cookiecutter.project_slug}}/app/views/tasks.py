"""The task API: start a task, list and follow your tasks, cancel one."""

import secrets
from typing import Any

from celery import states
from flask import Blueprint, abort, current_app, jsonify, request, session, url_for

from app.forms.tasks import parse_options, time_limits
from app.history import forget_job, jobs_of, record_new_job
from app.models.base import as_utc
from app.platform.errors import BROKER_ERRORS
from app.platform.limits import limiter, refuse_when_queue_is_full, tasks_rate_limit
from app.platform.task_ids import issue_task_id, was_issued
from app.tasks.progress import request_cancel, walk

bp = Blueprint("tasks", __name__, url_prefix="/tasks")


@bp.post("")
@limiter.limit(tasks_rate_limit)
def start():
    """Start a task: 202 with its id and where to follow it.

    429 past the client's rate limit, 503 while the queue is full.
    """
    options = parse_options(request.get_data())
    soft_time_limit, time_limit = time_limits(options["total"] * options["delay"])
    refuse_when_queue_is_full()
    task_id = issue_task_id()
    # Committed before the task is sent, so the worker finds its row.
    record_new_job(task_id, "walk", options, owner=client_id())
    try:
        walk.apply_async(
            kwargs=options,
            task_id=task_id,
            soft_time_limit=soft_time_limit,
            time_limit=time_limit,
        )
    except BROKER_ERRORS:
        forget_job(task_id)
        raise
    status_url = url_for("tasks.status", task_id=task_id)
    body = {"id": task_id, "state": states.PENDING, "status_url": status_url}
    return jsonify(body), 202, {"Location": status_url}


@bp.get("")
def history():
    """The tasks this client started (by its session cookie), newest first."""
    return jsonify(
        tasks=[
            {
                "id": job.id,
                "state": job.state,
                "current": job.current,
                "total": job.total,
                "status_url": url_for("tasks.status", task_id=job.id),
                "created_at": as_utc(job.created_at).isoformat(),
            }
            for job in jobs_of(client_id())
        ]
    )


@bp.get("/<task_id>")
def status(task_id: str):
    """The task's state and progress; 404 for an id this app never issued."""
    require_issued(task_id)
    # One read of the result store, so state and progress always agree.
    meta = walk.backend.get_task_meta(task_id)
    state, info = meta["status"], meta["result"]
    progress = info if isinstance(info, dict) else {}
    return jsonify(
        id=task_id,
        state=state,
        current=progress.get("current"),
        total=progress.get("total"),
        result=info if state == states.SUCCESS else None,
        error=failure_message(info) if state == states.FAILURE else None,
    )


@bp.delete("/<task_id>")
def cancel(task_id: str):
    """Ask the task to stop; its state becomes REVOKED."""
    require_issued(task_id)
    request_cancel(task_id)
    status_url = url_for("tasks.status", task_id=task_id)
    return jsonify(id=task_id, status_url=status_url), 202


def client_id() -> str:
    """This client's id, kept in its session cookie (set on first use)."""
    if "client_id" not in session:
        session["client_id"] = secrets.token_urlsafe(16)
    return session["client_id"]


def require_issued(task_id: str) -> None:
    if not was_issued(task_id):
        abort(404, description=f"No task with id {task_id!r}.")


def failure_message(error: Any) -> str:
    """A short message safe to show anyone: details only in debug mode."""
    if current_app.debug:
        return f"{type(error).__name__}: {error}"
    return "The task failed."
