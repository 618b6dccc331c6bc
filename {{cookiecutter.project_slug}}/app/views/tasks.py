"""The task API: start a task, list and follow your tasks, cancel one.

A task belongs to the client that started it (its session cookie): another
client gets 404 for it, as for an id that was never issued.
"""

import secrets
from typing import Any

from celery import states
from flask import Blueprint, abort, current_app, jsonify, request, session, url_for
from werkzeug.exceptions import UnsupportedMediaType

from app.forms.tasks import parse_options, time_limits
from app.history import jobs_of, start_job
from app.models.base import as_utc
from app.platform.limits import limiter, refuse_when_queue_is_full, tasks_rate_limit
from app.platform.security import refuse_cross_site
from app.platform.task_ids import issue_task_id, owner_tag, owner_tag_of
from app.tasks.progress import long_task, request_cancel

bp = Blueprint("tasks", __name__, url_prefix="/tasks")
# A page of another site must not start or cancel tasks in a user's name.
bp.before_request(refuse_cross_site)


@bp.post("")
@limiter.limit(tasks_rate_limit)
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
    owner = client_key()
    task_id = issue_task_id(owner)
    start_job(
        long_task,
        options,
        job_id=task_id,
        owner=owner,
        soft_time_limit=soft_time_limit,
        time_limit=time_limit,
    )
    status_url = url_for("tasks.status", task_id=task_id)
    body = {"id": task_id, "state": states.PENDING, "status_url": status_url}
    return jsonify(body), 202, {"Location": status_url}


@bp.get("")
def history():
    """The tasks this client started, newest first."""
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
            for job in jobs_of(client_key())
        ]
    )


@bp.get("/<task_id>")
def status(task_id: str):
    """The task's state and progress; 404 unless this client started it."""
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


def client_key() -> str:
    """This client's key, kept in its session cookie (set on first use)."""
    if "client_id" not in session:
        session["client_id"] = secrets.token_urlsafe(16)
    return f"client:{session['client_id']}"


def require_own(task_id: str) -> None:
    """404, the same answer as for a made-up id, unless this client owns it."""
    tag = owner_tag_of(task_id)
    if tag is None or "client_id" not in session or tag != owner_tag(client_key()):
        abort(404, description=f"No task with id {task_id!r}.")


def failure_message(error: Any) -> str:
    """A short message safe to show anyone: details only in debug mode."""
    if current_app.debug:
        return f"{type(error).__name__}: {error}"
    return "The task failed."
