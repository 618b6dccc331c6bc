"""A server that stopped answering is given up on; a slow one never is.

(app/platform/postgres_liveness.py.) These need PostgreSQL
(`TEST_DATABASE_URL`); on SQLite they are skipped. The template's own suite
also freezes a real database behind a proxy.
"""

import socket
import time
from functools import partial

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from app.models import db
from app.platform import postgres_liveness


@pytest.fixture
def quick_probes(monkeypatch) -> list[bool]:
    """Probes after 0.2 s of waiting, then every 0.3 s; their answers."""
    monkeypatch.setattr(postgres_liveness, "PROBE_AFTER", 0.2)
    monkeypatch.setattr(postgres_liveness, "PROBE_EVERY", 0.3)
    answers: list[bool] = []
    answer = postgres_liveness.server_answers

    def recorded(connection):
        answers.append(answer(connection))
        return answers[-1]

    monkeypatch.setattr(postgres_liveness, "server_answers", recorded)
    return answers


def test_a_slow_statement_of_a_live_server_runs_to_its_end(postgresql, quick_probes):
    """The server answers the probes: the statement is left alone."""
    assert db.session.execute(text("SELECT 1 FROM pg_sleep(1.5)")).scalar() == 1
    assert quick_probes and all(quick_probes)


def test_a_server_that_answers_no_probe_is_given_up_on(postgresql, quick_probes):
    """The wait ends at once, saying what happened; the next statement works."""
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts, never answers
        connection = db.session.connection().connection.dbapi_connection
        connection.probe_connect = partial(
            psycopg.connect,
            host="127.0.0.1",
            port=silent.getsockname()[1],
            connect_timeout=1,
        )
        started = time.monotonic()
        with pytest.raises(OperationalError, match="PostgreSQL stopped answering"):
            db.session.execute(text("SELECT pg_sleep(10)"))
    assert time.monotonic() - started < 5
    assert quick_probes == [False]
    db.session.rollback()
    assert db.session.execute(text("SELECT 1")).scalar() == 1
