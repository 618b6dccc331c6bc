"""The database, wired into the app: engine, timeouts per tier, worker forks.

Each web request and each task runs in an app context of its own, and
Flask-SQLAlchemy gives each app context its own session, removed when the
context ends: a task never sees another task's session, on any pool.

PostgreSQL's timeouts follow the work at hand, set on the connection when
it is taken from the pool (and only when they change):

- a web request: DATABASE_STATEMENT_TIMEOUT and DATABASE_LOCK_TIMEOUT, so
  that a slow query or a locked table is a 503 within seconds;
- a task: its own hard time limit, for statements, locks and a transaction
  left open (`g.task_time_limit`, set by app/platform/celery.py);
- anything else (migrations, `manage.py shell`): no timeout at all.

A statement may raise its own (`SET LOCAL statement_timeout = '60s'`):
the server obeys it, and app/platform/postgres_liveness.py only gives up on
a server that stopped answering altogether.
https://www.postgresql.org/docs/current/runtime-config-client.html
"""

from pathlib import Path
from typing import Any

from celery import current_app as current_celery_app
from celery.signals import worker_process_init
from flask import Flask, g, has_app_context, has_request_context
from flask_migrate import Migrate
from sqlalchemy import event
from sqlalchemy.engine import URL, Engine, make_url

from app.models import db
from app.platform import postgres_liveness

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"

# Seconds a web request's session may sit idle inside a transaction before
# the server ends it (and frees its locks): far beyond any request.
WEB_IDLE_IN_TRANSACTION_TIMEOUT = 60

# The names of an in-memory SQLite database.
IN_MEMORY = (None, "", ":memory:")

migrate = Migrate()


def database_init_app(app: Flask) -> None:
    """Attach the database and its migrations (`python manage.py db ...`)."""
    uri = with_driver(app.config["SQLALCHEMY_DATABASE_URI"])
    app.config["SQLALCHEMY_DATABASE_URI"] = uri
    url = make_url(uri)
    app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", engine_options(url, app.config))
    if url.get_backend_name() == "sqlite" and url.database not in IN_MEMORY:
        # The SQLite file's folder (instance/ in development) must exist.
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    db.init_app(app)
    if url.get_backend_name() == "postgresql":
        with app.app_context():
            set_timeouts_per_tier(db.engine, app.config)
    # Batch mode lets migrations alter SQLite tables (it copies them).
    migrate.init_app(app, db, directory=str(MIGRATIONS_DIR), render_as_batch=True)


def with_driver(url: str) -> str:
    """`url` naming the PostgreSQL driver the project installs, psycopg 3.

    A bare `postgresql://` (or the older `postgres://`) would ask SQLAlchemy
    2 for psycopg2, which is not installed.
    """
    if url.startswith(("postgres://", "postgresql://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def engine_options(url: URL, config: dict[str, Any]) -> dict[str, Any]:
    """Pool and driver settings that turn a dead database into errors.

    Pre-ping tests a pooled connection before use, so a database restart
    costs no restart of web or worker processes.
    https://docs.sqlalchemy.org/en/20/core/pooling.html#disconnect-handling-pessimistic
    """
    options: dict[str, Any] = {"pool_pre_ping": True}
    if url.get_backend_name() == "postgresql":
        options["pool_timeout"] = config["DATABASE_CONNECT_TIMEOUT"]
        options["connect_args"] = {
            "connect_timeout": config["DATABASE_CONNECT_TIMEOUT"]
        }
    elif url.get_backend_name() == "sqlite":
        # Seconds to wait for another process's write lock.
        options["connect_args"] = {"timeout": config["DATABASE_LOCK_TIMEOUT"]}
    return options


def set_timeouts_per_tier(engine: Engine, config: dict[str, Any]) -> None:
    """Give each connection the timeouts of the work that takes it."""

    @event.listens_for(engine, "do_connect")
    def connect(dialect, record, cargs, cparams):
        timeouts = tier_timeouts(config)
        record.info["timeouts"] = timeouts
        ours = " ".join(f"-c {name}={value}" for name, value in timeouts.items())
        options = " ".join(filter(None, [cparams.pop("options", None), ours]))
        return postgres_liveness.connect(*cargs, **cparams, options=options)

    @event.listens_for(engine, "checkout")
    def checkout(dbapi_connection, record, proxy) -> None:
        timeouts = tier_timeouts(config)
        if record.info.get("timeouts") != timeouts:
            set_timeouts(dbapi_connection, timeouts)
            record.info["timeouts"] = timeouts


def tier_timeouts(config: dict[str, Any]) -> dict[str, int]:
    """PostgreSQL's timeouts, in milliseconds, for the work at hand (0: none)."""
    if has_request_context():
        return {
            "statement_timeout": config["DATABASE_STATEMENT_TIMEOUT"] * 1000,
            "lock_timeout": config["DATABASE_LOCK_TIMEOUT"] * 1000,
            "idle_in_transaction_session_timeout": WEB_IDLE_IN_TRANSACTION_TIMEOUT
            * 1000,
        }
    limit = g.get("task_time_limit") if has_app_context() else None
    milliseconds = round(limit * 1000) if limit else 0
    return {
        "statement_timeout": milliseconds,
        "lock_timeout": milliseconds,
        "idle_in_transaction_session_timeout": milliseconds,
    }


def set_timeouts(connection, timeouts: dict[str, int]) -> None:
    """Set `timeouts` for the session, outside any transaction (a rollback
    would undo them)."""
    autocommit = connection.autocommit
    connection.autocommit = True
    try:
        connection.execute(
            "SELECT " + ", ".join("set_config(%s, %s, false)" for _ in timeouts),
            [item for pair in timeouts.items() for item in (pair[0], str(pair[1]))],
        )
    finally:
        connection.autocommit = autocommit


@worker_process_init.connect
def forget_inherited_connections(**_: Any) -> None:
    """A forked pool process must not share its parent's connections.

    `close=False` leaves them to the parent; the child opens its own.
    https://docs.sqlalchemy.org/en/20/core/pooling.html#using-connection-pools-with-multiprocessing-or-os-fork
    """
    flask_app = getattr(current_celery_app, "flask_app", None)
    if flask_app is None:
        return
    with flask_app.app_context():
        for engine in db.engines.values():
            engine.dispose(close=False)
