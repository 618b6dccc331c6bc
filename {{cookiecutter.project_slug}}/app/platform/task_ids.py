"""Task ids that prove this app issued them.

Celery answers PENDING for any id it has never seen, so the status endpoint
cannot tell a queued task from a made-up id. Each id we issue is a random
UUID signed with `SECRET_KEY` and stamped with its time of issue: any web
process can check it without shared state, and it stops being valid when
the task's result expires.
"""

import uuid
from functools import lru_cache

from flask import current_app
from itsdangerous import BadSignature, TimestampSigner


def issue_task_id() -> str:
    """A new, unguessable task id that `was_issued` will accept."""
    return signer().sign(uuid.uuid4().hex).decode()


def was_issued(task_id: str) -> bool:
    """True if this app issued `task_id` and its result has not expired."""
    # Read from the Flask config: Celery's own settings lookup is slower, and
    # a status poll runs this on every request.
    max_age = current_app.config["CELERY"]["result_expires"]
    try:
        signer().unsign(task_id, max_age=max_age)
    except BadSignature:
        return False
    return True


def signer() -> TimestampSigner:
    return signer_for(current_app.config["SECRET_KEY"])


@lru_cache(maxsize=4)
def signer_for(secret_key: str) -> TimestampSigner:
    """One signer per key, built once: a status poll checks an id each time."""
    return TimestampSigner(secret_key, salt="task-id")
