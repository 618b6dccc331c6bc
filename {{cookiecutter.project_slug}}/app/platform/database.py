"""The database, wired into the app: engine settings, migrations, worker forks.

Each web request and each task runs in an app context of its own, and
Flask-SQLAlchemy gives each app context its own session, removed when the
context ends: a task never sees another task's session, on any pool.
"""

from pathlib import Path
from typing import Any

from celery.signals import worker_process_init
from flask import Flask
from flask_migrate import Migrate
from sqlalchemy import event
from sqlalchemy.engine import URL, make_url

from app.models import db
from app.platform.database_deadline import connect_with_deadline

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"

# PostgreSQL's own timeouts (milliseconds), set on every connection, from
# the config's seconds.
SERVER_TIMEOUTS = {
    "statement_timeout": "DATABASE_STATEMENT_TIMEOUT",
    "lock_timeout": "DATABASE_LOCK_TIMEOUT",
    "idle_in_transaction_session_timeout": "DATABASE_IDLE_IN_TRANSACTION_TIMEOUT",
}

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
        # A server that has not answered within its own statement timeout
        # will not: it is given up on (app/platform/database_deadline.py).
        deadline = app.config["DATABASE_STATEMENT_TIMEOUT"]
        with app.app_context():
            event.listen(db.engine, "do_connect", connect_with_deadline(deadline))
    # Batch mode lets migrations alter SQLite tables (it copies them).
    migrate.init_app(app, db, directory=str(MIGRATIONS_DIR), render_as_batch=True)

    @worker_process_init.connect(weak=False)
    def forget_inherited_connections(**_: Any) -> None:
        """A forked pool process must not share its parent's connections.

        `close=False` leaves them to the parent; the child opens its own.
        https://docs.sqlalchemy.org/en/20/core/pooling.html#using-connection-pools-with-multiprocessing-or-os-fork
        """
        with app.app_context():
            for engine in db.engines.values():
                engine.dispose(close=False)


def with_driver(url: str) -> str:
    """`url` naming the PostgreSQL driver the project installs, psycopg 3.

    A bare `postgresql://` (or the older `postgres://`) would ask SQLAlchemy
    2.0 for psycopg2, which is not installed.
    """
    if url.startswith(("postgres://", "postgresql://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def engine_options(url: URL, config: dict[str, Any]) -> dict[str, Any]:
    """Pool and driver settings that turn a dead or stuck database into errors.

    Pre-ping tests a pooled connection before use, so a database restart
    costs no restart of web or worker processes.
    """
    options: dict[str, Any] = {"pool_pre_ping": True}
    if url.get_backend_name() == "postgresql":
        timeouts = " ".join(
            f"-c {setting}={config[name] * 1000}"
            for setting, name in SERVER_TIMEOUTS.items()
        )
        options["pool_timeout"] = config["DATABASE_CONNECT_TIMEOUT"]
        options["connect_args"] = {
            "connect_timeout": config["DATABASE_CONNECT_TIMEOUT"],
            "options": timeouts,
        }
    elif url.get_backend_name() == "sqlite":
        # Seconds to wait for another process's write lock.
        options["connect_args"] = {"timeout": config["DATABASE_LOCK_TIMEOUT"]}
    return options
