"""Task history: a job row per task, its owner's list, states kept once."""

import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
from celery import states
from celery.signals import before_task_publish
from conftest import make_current
from sqlalchemy import event, text
from test_tasks_api import poll

from app import create_app
from app.history import record_end, record_progress, tidy
from app.models import Job, db
from app.models.base import utcnow
from app.tasks.progress import long_task


@pytest.fixture
def rows_at_publish(app) -> Iterator[list[int]]:
    """How many job rows another connection saw as each task was sent."""
    seen: list[int] = []

    def count(**_: object) -> None:
        with app.app_context():
            seen.append(db.session.query(Job).count())

    before_task_publish.connect(count)
    yield seen
    before_task_publish.disconnect(count)


@pytest.fixture
def statements(app) -> Iterator[list[str]]:
    """Every SQL statement the app's engine sends while the test runs."""
    sent: list[str] = []

    def record(_connection, _cursor, statement, *_: object) -> None:
        sent.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    yield sent
    event.remove(engine, "before_cursor_execute", record)


def job(app, job_id: str) -> Job | None:
    with app.app_context():
        return db.session.get(Job, job_id)


def test_the_row_is_committed_before_the_task_is_sent(app, client, rows_at_publish):
    """A worker that takes the task at once finds its row."""
    task_id = client.post("/tasks", json={"total": 3}).get_json()["id"]
    assert rows_at_publish == [1]
    row = job(app, task_id)
    assert (row.kind, row.state, row.total) == ("long_task", "PENDING", 3)
    assert row.options == {"total": 3, "delay": 0.5}


def test_a_status_poll_reads_no_database_row(client, statements):
    """Polls are the hot path: they read the result store, never the jobs table.

    A page polls each of its tasks about once a second; the history is read
    once per page load (GET /tasks), and the row is written by the worker.
    """
    status_url = client.post("/tasks", json={"total": 3}).get_json()["status_url"]
    statements.clear()
    for _ in range(3):
        assert client.get(status_url).status_code == 200
    assert statements == []


# Counts, on the server, how often any other connection to the database is
# idle inside a transaction, for `seconds`. Sampling runs in PostgreSQL, so
# it misses no state change to the test process's own pauses.
IDLE_IN_TRANSACTION_SIGHTINGS = """
CREATE FUNCTION pg_temp.idle_in_transaction_sightings(seconds float8)
RETURNS int LANGUAGE plpgsql AS $$
DECLARE
    sightings int := 0;
    stop timestamptz := clock_timestamp() + seconds * interval '1 second';
BEGIN
    WHILE clock_timestamp() < stop LOOP
        PERFORM pg_stat_clear_snapshot();
        sightings := sightings + (
            SELECT count(*) FROM pg_stat_activity
            WHERE datname = current_database()
              AND pid <> pg_backend_pid()
              AND state = 'idle in transaction'
        );
    END LOOP;
    RETURN sightings;
END $$
"""


def test_a_workers_history_writes_leave_no_transaction_open(app, postgresql):
    """Each progress or final write commits in the statement's round trip.

    Written as UPDATE, then COMMIT, the row stays locked in between; a
    worker cut off there (its host's link down) keeps it locked until the
    server notices the dead connection (hours, with TCP's defaults), and
    the worker the task is handed to waits the lock timeout on each report.
    """
    task_id = app.test_client().post("/tasks").get_json()["id"]
    writing = threading.Event()

    def write_progress() -> None:
        with app.app_context():
            current = 0
            while writing.is_set():
                current += 1
                record_progress(task_id, current, 10**9)

    with db.engine.connect() as sampler:
        sampler.execute(text(IDLE_IN_TRANSACTION_SIGHTINGS))
        writing.set()
        writer = threading.Thread(target=write_progress)
        writer.start()
        try:
            sightings = sampler.execute(
                text("SELECT pg_temp.idle_in_transaction_sightings(1.5)")
            ).scalar()
        finally:
            writing.clear()
            writer.join()
    # The writer wrote while the server watched: as many times as a loaded
    # machine allows (52 to thousands seen), each a chance to be caught.
    assert job(app, task_id).current > 0
    assert sightings == 0


def test_no_row_is_left_when_the_broker_is_down(database_url):
    """Sending fails (503): no row claims a task that will never run."""
    settings = {
        "CELERY_BROKER_URL": "redis://127.0.0.1:1/0",
        "SQLALCHEMY_DATABASE_URI": database_url,
    }
    app = make_current(create_app("testing", settings))
    response = app.test_client().post("/tasks")
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    with app.app_context():
        assert db.session.query(Job).count() == 0


def test_each_client_lists_its_own_tasks_newest_first(app):
    """Two cookie jars: each sees its own tasks, never the other's."""
    ada, bob = app.test_client(), app.test_client()
    ada_ids = [ada.post("/tasks").get_json()["id"] for _ in range(3)]
    bob_id = bob.post("/tasks").get_json()["id"]
    ada_list = ada.get("/tasks").get_json()["tasks"]
    assert [task["id"] for task in ada_list] == ada_ids[::-1]
    assert [task["id"] for task in bob.get("/tasks").get_json()["tasks"]] == [bob_id]
    assert ada_list[0]["status_url"] == f"/tasks/{ada_ids[-1]}"
    assert ada_list[0]["state"] == "PENDING"


def test_a_new_client_has_no_tasks(client):
    """A client without a session cookie gets an empty list, and a cookie."""
    response = client.get("/tasks")
    assert response.get_json() == {"tasks": []}
    assert "session=" in response.headers["Set-Cookie"]


def test_a_job_keeps_its_first_final_state(app, client):
    """A redelivered task reporting again cannot change a finished job."""
    task_id = client.post("/tasks").get_json()["id"]
    with app.app_context():
        record_progress(task_id, 3, 10)
        record_end(task_id, states.SUCCESS)
        finished_at = db.session.get(Job, task_id).finished_at
        # A second delivery of the same task runs again from the start.
        record_progress(task_id, 1, 10)
        record_end(task_id, states.FAILURE)
    row = job(app, task_id)
    assert (row.state, row.current) == ("SUCCESS", 10)
    assert row.finished_at == finished_at


def test_worker_records_progress_and_success(live_client, live_app):
    """A real worker writes the row's progress and its final state."""
    task_id = live_client.post("/tasks", json={"total": 6, "delay": 0.1}).json["id"]
    poll(live_client, task_id, until={"SUCCESS"})
    row = job(live_app, task_id)
    assert (row.state, row.current, row.total) == ("SUCCESS", 6, 6)
    assert row.finished_at is not None
    [listed] = live_client.get("/tasks").get_json()["tasks"]
    assert (listed["state"], listed["current"]) == ("SUCCESS", 6)


def test_worker_records_a_cancelled_task(live_client, live_app):
    """DELETE ends the job REVOKED, with how far it got."""
    task_id = live_client.post("/tasks", json={"total": 100, "delay": 0.1}).json["id"]
    poll(live_client, task_id, until={"PROGRESS"})
    live_client.delete(f"/tasks/{task_id}")
    poll(live_client, task_id, until={"REVOKED"})
    row = job(live_app, task_id)
    assert row.state == "REVOKED"
    assert 0 <= row.current < 100


def test_tidy_ends_rows_the_result_store_has_ended_and_prunes_expired_ones(app, client):
    """A final write the database missed is made up; expired jobs go, and
    are never listed meanwhile (their ids answer 404 by then)."""
    finished, lost, waiting = (client.post("/tasks").get_json()["id"] for _ in range(3))
    with app.app_context():
        long_task.backend.mark_as_done(finished, {"current": 10, "total": 10})
        long_task.backend.mark_as_failure(lost, RuntimeError("lost"))
        record_end(finished, states.SUCCESS)
        expired = db.session.get(Job, waiting)
        expired.created_at = utcnow() - timedelta(days=2)
        db.session.commit()
    assert [task["id"] for task in client.get("/tasks").get_json()["tasks"]] == [
        lost,
        finished,
    ]
    with app.app_context():
        assert tidy(long_task.backend) == (1, 1)
        assert db.session.get(Job, lost).state == states.FAILURE
        assert db.session.get(Job, waiting) is None
        assert tidy(long_task.backend) == (0, 0)
