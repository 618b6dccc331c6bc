"""Accounts: an e-mail address, confirmed by a link mailed to it."""

from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import db, utcnow


class User(UserMixin, db.Model):
    """A registered address; `confirmed_at` is None until it is confirmed.

    Its owner signs in with a link mailed to it (app/accounts.py): no
    password to store, leak or reset.
    """

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Normalised (see app/accounts.py), so one address is one row.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    confirmed_at: Mapped[datetime | None]
    # When the last confirmation message was queued: at most one per interval.
    confirmation_sent_at: Mapped[datetime | None]
    # Sign-ins so far: a sign-in link names the count it was made at, so it
    # works once (the sign-in raises the count) and every older link dies.
    sign_ins: Mapped[int] = mapped_column(default=0, server_default="0")
    # When the last sign-in link was queued: at most one a minute.
    sign_in_link_sent_at: Mapped[datetime | None]

    def __repr__(self) -> str:
        return f"<User {self.id} {self.email!r}>"
