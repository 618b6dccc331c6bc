"""A wait for PostgreSQL past its deadline ends at once.

(app/platform/database_deadline.py)

These need PostgreSQL (`TEST_DATABASE_URL`); on SQLite they are skipped. The
template's own suite also freezes a real database behind a proxy.
"""

import time

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from app.models import db


def test_a_statement_past_the_deadline_fails_at_once(postgresql):
    """A server that takes longer than the deadline is given up on."""
    connection = db.session.connection().connection.dbapi_connection
    connection.deadline_seconds = 0.5  # the server's own timeout is 5 s
    started = time.monotonic()
    with pytest.raises(OperationalError):
        db.session.execute(text("SELECT pg_sleep(3)"))
    assert time.monotonic() - started < 2
    db.session.rollback()
    # The dropped connection is replaced: the next statement works.
    assert db.session.execute(text("SELECT 1")).scalar() == 1


def test_statements_within_the_deadline_are_untouched(postgresql):
    assert db.session.execute(text("SELECT 1 FROM pg_sleep(0.3)")).scalar() == 1
