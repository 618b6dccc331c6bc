"""Accounts: an address confirmed by a mailed link, and sign-in by mailed link.

No passwords: a sign-in link mailed to the address proves it, works once
and expires. Nothing here tells a caller whether an address was known: the
views answer every valid post the same way.
"""

from datetime import timedelta
from urllib.parse import urlsplit

from email_validator import validate_email
from flask import current_app
from flask_login import LoginManager
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import ColumnElement, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from app.models import User, db
from app.models.base import utcnow

# Seconds between two sign-in links to one address, however often it asks.
SIGN_IN_RESEND_SECONDS = 60

# Flask-Login: the user of a session, and where to send one who is not.
# https://flask-login.readthedocs.io/en/latest/
login_manager = LoginManager()
login_manager.login_view = "account.login"


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    return db.session.get(User, int(user_id))


def normalise_email(address: str) -> str:
    """One spelling per mailbox: `Ada@Example.COM` and `ada@example.com` match.

    The whole address is lower-cased: mail providers treat the local part
    without regard to case, and a second row for `ADA@...` would get a
    second message.
    """
    return validate_email(address, check_deliverability=False).normalized.lower()


def claim_confirmation(email: str) -> User | None:
    """The user to mail a confirmation link to now, or None if none is due.

    None for a confirmed address, or one sent a link less than
    `CONFIRMATION_RESEND_MINUTES` ago. The claim is one INSERT or one
    conditional UPDATE, so the database decides between concurrent posts of
    one address and a burst of them sends a single message.
    """
    now = utcnow()
    try:
        db.session.add(User(email=email, confirmation_sent_at=now))
        db.session.commit()
    except IntegrityError:  # the address is known
        db.session.rollback()
        interval = timedelta(minutes=current_app.config["CONFIRMATION_RESEND_MINUTES"])
        if not claim(
            User.email == email,
            User.confirmed_at.is_(None),
            sent_long_enough_ago(User.confirmation_sent_at, now - interval),
            confirmation_sent_at=now,
        ):
            return None
    return db.session.scalar(select(User).where(User.email == email))


def release_confirmation(user: User) -> None:
    """Give the claim back when the mail could not be queued: a retry may send."""
    user.confirmation_sent_at = None
    db.session.commit()


def confirmation_token(user: User) -> str:
    """A signed token naming the user and the address it was sent to."""
    return serializer("confirm-email").dumps({"user": user.id, "email": user.email})


def confirm_address(token: str) -> User | None:
    """Confirm the address `token` was sent to; None if it is forged or expired.

    Using a link twice is harmless: the first use sets `confirmed_at`, later
    ones find it set and change nothing.
    """
    max_age = current_app.config["CONFIRMATION_LINK_MAX_AGE"]
    try:
        claims = serializer("confirm-email").loads(token, max_age=max_age)
    except BadSignature:  # SignatureExpired included
        return None
    user = db.session.get(User, claims["user"])
    if user is None or user.email != claims["email"]:
        return None
    db.session.execute(
        update(User)
        .where(User.id == user.id, User.confirmed_at.is_(None))
        .values(confirmed_at=utcnow())
    )
    db.session.commit()
    return user


def claim_sign_in(email: str) -> User | None:
    """The user to mail a sign-in link to now, or None.

    None for an address nobody registered, or one sent a link less than a
    minute ago: one conditional UPDATE, so a burst sends a single message.
    """
    now = utcnow()
    if not claim(
        User.email == email,
        sent_long_enough_ago(
            User.sign_in_link_sent_at, now - timedelta(seconds=SIGN_IN_RESEND_SECONDS)
        ),
        sign_in_link_sent_at=now,
    ):
        return None
    return db.session.scalar(select(User).where(User.email == email))


def release_sign_in(user: User) -> None:
    """Give the claim back when the mail could not be queued."""
    user.sign_in_link_sent_at = None
    db.session.commit()


def sign_in_token(user: User) -> str:
    """A signed token naming the user and their count of sign-ins so far."""
    return serializer("sign-in").dumps({"user": user.id, "sign_ins": user.sign_ins})


def use_sign_in_token(token: str) -> User | None:
    """The user `token` signs in, once; None if forged, expired or used.

    Using it raises the user's count of sign-ins, which every token names:
    it, and any older token, then no longer match. One conditional UPDATE,
    so two uses at once cannot both win. It confirms the address too: the
    link was opened from its inbox.
    """
    max_age = current_app.config["LOGIN_LINK_MINUTES"] * 60
    try:
        claims = serializer("sign-in").loads(token, max_age=max_age)
    except BadSignature:  # SignatureExpired included
        return None
    if not claim(
        User.id == claims["user"],
        User.sign_ins == claims["sign_ins"],
        sign_ins=User.sign_ins + 1,
        confirmed_at=func.coalesce(User.confirmed_at, utcnow()),
    ):
        return None
    return db.session.get(User, claims["user"])


def claim(*conditions: ColumnElement[bool], **values: object) -> bool:
    """Update the user matching `conditions` with `values`; True if one did."""
    claimed = db.session.execute(update(User).where(*conditions).values(**values))
    db.session.commit()
    return claimed.rowcount == 1


def sent_long_enough_ago(column, before) -> ColumnElement[bool]:
    return or_(column.is_(None), column <= before)


def serializer(salt: str) -> URLSafeTimedSerializer:
    """Signs with SECRET_KEY; tokens of SECRET_KEY_FALLBACKS still verify."""
    keys = [*current_app.config["SECRET_KEY_FALLBACKS"], current_app.secret_key]
    return URLSafeTimedSerializer(keys, salt=salt)


def external_url(endpoint: str, **values: str) -> str:
    """The absolute URL of `endpoint` at APP_BASE_URL, for links in mail.

    Never from the request's Host header: a client may send any host, and a
    link to it in mail would hand the token to whoever runs that host.
    """
    base = urlsplit(current_app.config["APP_BASE_URL"])
    adapter = current_app.url_map.bind(
        base.netloc, script_name=base.path or "/", url_scheme=base.scheme
    )
    return adapter.build(endpoint, values, force_external=True)
