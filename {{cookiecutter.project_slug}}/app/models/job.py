"""Task history: each task started from the API, who started it, how it went."""

from datetime import datetime
from typing import Any

from celery import states
from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import db, utcnow

# The state a running task reports with its numbers (not a Celery state).
PROGRESS = "PROGRESS"


class Job(db.Model):
    """One task; written before the task is sent, updated by the worker."""

    __tablename__ = "jobs"

    # The Celery task id (a signed id, see app/platform/task_ids.py).
    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    options: Mapped[dict[str, Any]] = mapped_column(JSON)
    # The browser that started it (its session's key, app/owners.py), and
    # the account signed in there, if any: each lists its own jobs only.
    owner: Mapped[str] = mapped_column(String(64))
    account_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE")
    )
    # A Celery state name, or PROGRESS while it runs.
    state: Mapped[str] = mapped_column(String(16), default=states.PENDING)
    current: Mapped[int] = mapped_column(default=0)
    total: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Set once, with the final state: a redelivered task cannot write twice.
    finished_at: Mapped[datetime | None]

    __table_args__ = (
        Index("ix_jobs_owner_created_at", "owner", "created_at"),
        Index("ix_jobs_account_id_created_at", "account_id", "created_at"),
    )

    def __repr__(self) -> str:
        return f"<Job {self.id[:8]} {self.kind} {self.state}>"
