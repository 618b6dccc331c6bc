"""The task API: start a task, list and follow your tasks, cancel one.

A task belongs to the account signed in, else to the browser that started
it (app/owners.py): anyone else gets 404 for it, as for an id that was
never issued.
"""

from typing import Any

from celery import states
from flask import Blueprint, abort, current_app, jsonify, request, url_for
from werkzeug.exceptions import UnsupportedMediaType

from app.forms.tasks import parse_options, time_limits
from app.history import jobs_of, start_job
from app.models.base import as_utc
from app.owners import browser_key, owner_key, owns, signed_in_account
from app.platform.limits import limiter, refuse_when_queue_is_full, tasks_rate_limit
from app.platform.metrics import starts_tasks
from app.platform.security import refuse_cross_site
from app.platform.task_ids import issue_task_id
from app.tasks.progress import long_task, request_cancel

bp = Blueprint("tasks", __name__, url_prefix="/tasks")
# A page of another site must not start or cancel tasks in a user's name.
bp.before_request(refuse_cross_site)


@bp.post("")
@limiter.limit(tasks_rate_limit)
@starts_tasks("long_task")  # its answers count as tasks accepted or refused
def start():
    """Start a task: 202 with its id and where to follow it.

    415 for a body that is not JSON, 429 past the client's rate limit, 503
    while the queue is full.
    """
    body = request.get_data()
    if body and not request.is_json:
        raise UnsupportedMediaType("The body must be sent as application/json.")
    options = parse_options(body)
    soft_time_limit, time_limit = time_limits(options["total"] * options["delay"])
    refuse_when_queue_is_full()
    task_id = issue_task_id(owner_key())
    start_job(
        long_task,
        options,
        job_id=task_id,
        owner=browser_key(),
        account_id=signed_in_account(),
        soft_time_limit=soft_time_limit,
        time_limit=time_limit,
    )
    status_url = url_for("tasks.status", task_id=task_id)
    body = {"id": task_id, "state": states.PENDING, "status_url": status_url}
    return jsonify(body), 202, {"Location": status_url}


@bp.get("")
def history():
    """The account's tasks, or this browser's, newest first."""
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
            for job in jobs_of(browser_key(), signed_in_account())
        ]
    )


@bp.get("/<task_id>")
def status(task_id: str):
    """The task's state and progress; 404 unless it is this client's."""
    require_own(task_id)
    # One read of the result store, so state and progress always agree.
    meta = long_task.backend.get_task_meta(task_id)
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
    require_own(task_id)
    request_cancel(task_id)
    status_url = url_for("tasks.status", task_id=task_id)
    return jsonify(id=task_id, status_url=status_url), 202


def require_own(task_id: str) -> None:
    """404, the same answer as for a made-up id, unless the task is ours."""
    if not owns(task_id):
        abort(404, description=f"No task with id {task_id!r}.")


def failure_message(error: Any) -> str:
    """A short message safe to show anyone: details only in debug mode."""
    if current_app.debug:
        return f"{type(error).__name__}: {error}"
    return "The task failed."
