"""PostgreSQL's timeouts follow the work: web requests, tasks, the rest.

(app/platform/database.py.) These need PostgreSQL (`TEST_DATABASE_URL`);
on SQLite they are skipped.
"""

import time

import pytest
from flask import g
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from worker_tasks import sleep_in_the_database

from app.models import Job, db
from app.platform import database, postgres_liveness

TIMEOUTS = ("statement_timeout", "lock_timeout", "idle_in_transaction_session_timeout")


def timeouts() -> tuple[str, ...]:
    return tuple(db.session.execute(text(f"SHOW {name}")).scalar() for name in TIMEOUTS)


def test_a_web_request_gets_the_short_timeouts(app, postgresql):
    """A slow query or a locked table in a request is a 503 within seconds."""
    with app.test_request_context("/tasks"):
        assert timeouts() == ("5s", "3s", "1min")


def test_a_task_gets_its_own_time_limit(app, postgresql):
    """A task's statements may run as long as the task may."""
    with app.app_context():
        g.task_time_limit = 7 * 60
        assert timeouts() == ("7min", "7min", "7min")


def test_migrations_and_commands_get_no_timeout(app, postgresql):
    """Outside requests and tasks (`db upgrade`, `shell`), nothing is cut short."""
    with app.test_request_context("/tasks"):
        assert timeouts()[0] == "5s"
        db.session.commit()
    # The same pooled connection, taken for other work, changes its timeouts.
    assert timeouts() == ("0", "0", "0")


def test_a_statement_may_raise_its_own_timeout(app, postgresql, monkeypatch):
    """`SET LOCAL statement_timeout` in a request is obeyed, not cut short."""
    app.config["DATABASE_STATEMENT_TIMEOUT"] = 1
    monkeypatch.setattr(postgres_liveness, "PROBE_AFTER", 0.3)
    with app.test_request_context("/tasks"):
        db.session.execute(text("SET LOCAL statement_timeout = '10s'"))
        db.session.execute(text("SELECT pg_sleep(2)"))
        db.session.rollback()
        with pytest.raises(DBAPIError, match="statement timeout"):
            db.session.execute(text("SELECT pg_sleep(2)"))


def test_a_task_runs_a_statement_longer_than_a_request_may(on_postgresql, live_client):
    """A real worker: six seconds of SQL, past the web tier's five."""
    result = sleep_in_the_database.delay(6)
    assert result.get(timeout=30) == "6min"  # the default task_time_limit


def test_a_web_session_left_idle_in_a_transaction_is_ended(
    app, on_postgresql, monkeypatch
):
    """A client that vanished mid-transaction (its host cut off) releases its
    locks once the idle timeout has passed, not hours later."""
    monkeypatch.setattr(database, "WEB_IDLE_IN_TRANSACTION_TIMEOUT", 1)
    task_id = app.test_client().post("/tasks").get_json()["id"]
    locked = select(Job).where(Job.id == task_id).with_for_update(nowait=True)
    with app.test_request_context("/tasks"), db.engine.connect() as vanished:
        vanished.execute(locked)  # the row is locked; nothing more comes
        time.sleep(2)
        with db.engine.connect() as other:
            assert other.execute(locked).one()  # NOWAIT: not locked any more
        with pytest.raises(DBAPIError, match="idle-in-transaction timeout"):
            vanished.execute(text("SELECT 1"))
