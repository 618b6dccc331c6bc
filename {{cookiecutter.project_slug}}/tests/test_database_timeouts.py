"""Timeouts PostgreSQL enforces on every connection (app/platform/database.py).

These need PostgreSQL (`TEST_DATABASE_URL`); on SQLite they are skipped.
"""

import time

import pytest
from conftest import make_current
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from app import create_app
from app.models import Job, db


def test_a_transaction_left_idle_is_ended_by_the_server(postgresql, database_url):
    """A client that vanished mid-transaction (its host cut off) releases
    its locks after DATABASE_IDLE_IN_TRANSACTION_TIMEOUT, not when the
    server's TCP keepalive notices it hours later."""
    settings = {
        "SQLALCHEMY_DATABASE_URI": database_url,
        "DATABASE_IDLE_IN_TRANSACTION_TIMEOUT": 1,
    }
    app = make_current(create_app("testing", settings))
    task_id = app.test_client().post("/tasks").get_json()["id"]
    locked = select(Job).where(Job.id == task_id).with_for_update(nowait=True)
    with app.app_context(), db.engine.connect() as vanished:
        vanished.execute(locked)  # the row is locked; nothing more comes
        time.sleep(2)
        with db.engine.connect() as other:
            assert other.execute(locked).one()  # NOWAIT: not locked any more
        with pytest.raises(DBAPIError, match="idle-in-transaction timeout"):
            vanished.execute(text("SELECT 1"))
