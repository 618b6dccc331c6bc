"""Accounts: an e-mail address, confirmed by a link mailed to it."""

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import db, utcnow


class User(db.Model):
    """A registered address; `confirmed_at` is None until it is confirmed."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Normalised (see app/accounts.py), so one address is one row.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    confirmed_at: Mapped[datetime | None]
    # When the last confirmation message was queued: at most one per interval.
    confirmation_sent_at: Mapped[datetime | None]

    def __repr__(self) -> str:
        return f"<User {self.id} {self.email!r}>"
