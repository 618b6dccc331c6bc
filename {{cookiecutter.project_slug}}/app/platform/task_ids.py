"""Task ids that prove this app issued them, and to whom.

Celery answers PENDING for any id it has never seen, so the status endpoint
cannot tell a queued task from a made-up one. Each id issued here is a
random UUID and a tag of its owner (a hash: the id does not show who),
signed with `SECRET_KEY` and stamped with its time of issue. Any web
process checks an id without shared state or a database read; an id stops
being valid when the task's result expires; ids signed with a key of
`SECRET_KEY_FALLBACKS` still verify.
"""

import base64
import hashlib
import uuid
from functools import lru_cache

from flask import current_app
from itsdangerous import BadSignature, TimestampSigner


def issue_task_id(owner: str) -> str:
    """A new, unguessable task id belonging to `owner`."""
    return signer().sign(f"{uuid.uuid4().hex}.{owner_tag(owner)}").decode()


def owner_tag_of(task_id: str) -> str | None:
    """The owner's tag in an id this app issued and that has not expired."""
    # Read from the Flask config: a status poll runs this on every request.
    max_age = current_app.config["CELERY"]["result_expires"]
    try:
        value = signer().unsign(task_id, max_age=max_age).decode()
    except BadSignature:
        return None
    return value.partition(".")[2]


def owner_tag(owner: str) -> str:
    """A short, URL-safe digest of `owner` (a client's or an account's key)."""
    digest = hashlib.blake2s(owner.encode(), digest_size=8).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def signer() -> TimestampSigner:
    config = current_app.config
    return signer_for(config["SECRET_KEY"], tuple(config["SECRET_KEY_FALLBACKS"]))


@lru_cache(maxsize=4)
def signer_for(secret_key: str, fallbacks: tuple[str, ...]) -> TimestampSigner:
    """One signer per set of keys, built once; it signs with `secret_key`."""
    return TimestampSigner([*fallbacks, secret_key], salt="task-id")
