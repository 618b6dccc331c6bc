"""Accounts: registration claims a confirmation mail, a signed link confirms.

Nothing here tells a caller whether an address was known before: the view
answers every valid post the same way.
"""

from datetime import timedelta
from urllib.parse import urlsplit

from email_validator import validate_email
from flask import current_app
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from app.models import User, db
from app.models.base import utcnow


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
        claimed = db.session.execute(
            update(User)
            .where(
                User.email == email,
                User.confirmed_at.is_(None),
                or_(
                    User.confirmation_sent_at.is_(None),
                    User.confirmation_sent_at <= now - interval,
                ),
            )
            .values(confirmation_sent_at=now)
        ).rowcount
        db.session.commit()
        if not claimed:
            return None
    return db.session.scalar(select(User).where(User.email == email))


def release_confirmation(user: User) -> None:
    """Give the claim back when the mail could not be queued: a retry may send."""
    user.confirmation_sent_at = None
    db.session.commit()


def confirmation_token(user: User) -> str:
    """A signed token naming the user and the address it was sent to."""
    return serializer().dumps({"user": user.id, "email": user.email})


def confirm_address(token: str) -> User | None:
    """Confirm the address `token` was sent to; None if it is forged or expired.

    Using a link twice is harmless: the first use sets `confirmed_at`, later
    ones find it set and change nothing.
    """
    try:
        claims = serializer().loads(
            token, max_age=current_app.config["CONFIRMATION_LINK_MAX_AGE"]
        )
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


def serializer() -> URLSafeTimedSerializer:
    """Signs with SECRET_KEY; links signed with SECRET_KEY_FALLBACKS still verify."""
    keys = [*current_app.config["SECRET_KEY_FALLBACKS"], current_app.secret_key]
    return URLSafeTimedSerializer(keys, salt="confirm-email")


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
