"""Who a task belongs to: the account signed in, else the browser.

A browser is known by a random id in its session cookie, set by the first
answer it gets, the page's included (so that the page's own requests, which
can cross, carry one id); an account by its user's id, kept in the session
at sign-in. A task id carries a tag of its owner (app/platform/task_ids.py),
so a poll by the owner reads no database. A task that a browser started
before signing in becomes the account's then: its id names the browser,
and its job row the account.
"""

import secrets

from flask import session
from flask_login import login_user, logout_user

from app import history
from app.models import User
from app.platform.task_ids import owner_tag, owner_tag_of

# The session's keys: this browser's id, and the account signed in on it.
BROWSER, ACCOUNT = "client_id", "account_id"


def key_of_browser(browser_id: str) -> str:
    """The owner key of a browser (a job row's `owner`, a task id's tag)."""
    return f"client:{browser_id}"


def key_of_account(account_id: int) -> str:
    """The owner key of an account."""
    return f"account:{account_id}"


def browser_key() -> str:
    """This browser's key, kept in its session cookie (set on first use)."""
    if BROWSER not in session:
        session[BROWSER] = secrets.token_urlsafe(16)
    return key_of_browser(session[BROWSER])


def signed_in_account() -> int | None:
    """The id of the account signed in on this browser, if any."""
    return session.get(ACCOUNT)


def owner_key() -> str:
    """Whose a task started now is: the account's, else this browser's."""
    account = signed_in_account()
    return key_of_account(account) if account is not None else browser_key()


def owns(task_id: str) -> bool:
    """True if this browser, or the account signed in on it, owns the task."""
    tag = owner_tag_of(task_id)
    if tag is None:
        return False
    keys = []
    if BROWSER in session:
        keys.append(key_of_browser(session[BROWSER]))
    account = signed_in_account()
    if account is not None:
        keys.append(key_of_account(account))
    if tag in {owner_tag(key) for key in keys}:
        return True
    return account is not None and history.job_of_account(task_id, account)


def sign_in(user: User) -> None:
    """Sign this browser in: its tasks become the account's, and its session
    starts anew (a session planted before the sign-in gains nothing)."""
    if BROWSER in session:
        history.adopt_jobs(key_of_browser(session[BROWSER]), user.id)
    session.clear()
    login_user(user)
    session[ACCOUNT] = user.id
    session.permanent = True  # for PERMANENT_SESSION_LIFETIME


def sign_out() -> None:
    """Sign this browser out; it starts anew, with none of the account's tasks."""
    logout_user()
    session.clear()
