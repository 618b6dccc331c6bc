"""The task API: start a task, list and follow your tasks, cancel one."""

import json
import secrets
from typing import Any

from celery import states
from flask import Blueprint, abort, current_app, jsonify, request, session, url_for
from werkzeug.exceptions import BadRequest

from app.errors import BROKER_ERRORS
from app.history import forget_job, jobs_of, record_new_job
from app.task_ids import issue_task_id, was_issued
from app.tasks.progress import request_cancel, walk

bp = Blueprint("tasks", __name__, url_prefix="/tasks")

# Each field of the POST body: (default, lowest, highest, allowed types).
FIELDS: dict[str, tuple[float, float, float, tuple[type, ...]]] = {
    "total": (10, 1, 10_000, (int,)),
    "delay": (0.5, 0, 10, (int, float)),
}
# The longest a task may overrun its expected time before it is stopped.
TIME_LIMIT_MARGIN = 60


@bp.post("")
def start():
    """Start a task: 202 with its id and where to follow it."""
    options = parse_options(request.get_data())
    task_id = issue_task_id()
    # Committed before the task is sent, so the worker finds its row.
    job = record_new_job(task_id, "walk", options, owner=client_id())
    expected_seconds = options["total"] * options["delay"]
    try:
        walk.apply_async(
            kwargs=options,
            task_id=task_id,
            soft_time_limit=expected_seconds + TIME_LIMIT_MARGIN,
            time_limit=expected_seconds + 2 * TIME_LIMIT_MARGIN,
        )
    except BROKER_ERRORS:
        forget_job(job)
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
                "created_at": job.created_at.isoformat(),
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


def parse_options(body: bytes) -> dict[str, Any]:
    """The task's options from a JSON object body; BadRequest names the field."""
    try:
        data = json.loads(body) if body.strip() else {}
    except (ValueError, RecursionError):
        raise BadRequest("The body must be a JSON object.") from None
    if not isinstance(data, dict):
        raise BadRequest("The body must be a JSON object.")
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        raise BadRequest(f"Unknown field: {unknown[0]!r}.")
    options = {}
    for name, (default, lowest, highest, types) in FIELDS.items():
        value = data.get(name, default)
        if (
            isinstance(value, bool)
            or not isinstance(value, types)
            # False for NaN and infinity too.
            or not lowest <= value <= highest
        ):
            kind = "a whole number" if types == (int,) else "a number"
            raise BadRequest(f"{name} must be {kind} from {lowest} to {highest}.")
        options[name] = value
    return options
