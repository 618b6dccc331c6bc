"""A deadline on every wait for PostgreSQL: a database that stops answering is an error.

`statement_timeout` and `lock_timeout` are enforced by the server. A server
that has stopped answering (frozen, or its host cut off while connections
stay open) enforces nothing, and a client waiting on its socket waits until
gunicorn kills the request or a walk reaches its time limit. Here every
call that waits for the server (a statement, the pool's ping, a commit or a
rollback) is watched: past its deadline a watchdog thread shuts the
connection's socket down, the call fails at once as if the server had closed
the connection, SQLAlchemy drops that connection from the pool, and the
request answers 503 (the worker logs the skipped write).

Only public psycopg APIs are used: a connection class (`Connection.connect`),
a cursor class (`cursor_factory`) and the socket libpq reads from.
"""

import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

logger = logging.getLogger(__name__)

# Seconds between two looks of the watchdog at the calls it watches.
CHECK_INTERVAL = 0.2


class Watchdog:
    """Shuts down the socket of a connection whose call ran past its deadline."""

    def __init__(self) -> None:
        self.reset()
        if hasattr(os, "register_at_fork"):
            # A forked process (a prefork pool process) gets no thread of
            # its parent's, and must not inherit a lock held at the fork.
            os.register_at_fork(after_in_child=self.reset)

    def reset(self) -> None:
        self.deadlines: dict[DeadlineConnection, float] = {}
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None

    def watch(self, connection: "DeadlineConnection") -> None:
        if self.thread is None:
            self.start()
        deadline = time.monotonic() + connection.deadline_seconds
        with self.lock:
            self.deadlines[connection] = deadline

    def release(self, connection: "DeadlineConnection") -> None:
        with self.lock:
            self.deadlines.pop(connection, None)

    def start(self) -> None:
        with self.lock:
            if self.thread is not None:
                return
            self.thread = threading.Thread(
                target=self.run, name="database-deadline", daemon=True
            )
            self.thread.start()

    def run(self) -> None:
        while True:
            time.sleep(CHECK_INTERVAL)
            now = time.monotonic()
            with self.lock:
                late = [c for c, deadline in self.deadlines.items() if deadline <= now]
                for connection in late:
                    del self.deadlines[connection]
            for connection in late:
                shut_down(connection)


def shut_down(connection: "DeadlineConnection") -> None:
    """End the connection's wait: its socket reads end-of-file from now on."""
    logger.warning(
        "The database did not answer within %s s: connection dropped.",
        connection.deadline_seconds,
    )
    try:
        # A socket object over libpq's descriptor, detached again so that
        # closing it stays libpq's job.
        sock = socket.socket(fileno=connection.pgconn.socket)
    except (OSError, psycopg.Error):
        return  # closed meanwhile
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    finally:
        sock.detach()


WATCHDOG = Watchdog()


@contextmanager
def watched(connection: "DeadlineConnection") -> Iterator[None]:
    """The block's wait for the server ends by the connection's deadline."""
    WATCHDOG.watch(connection)
    try:
        yield
    finally:
        WATCHDOG.release(connection)


class DeadlineCursor(psycopg.Cursor):
    """A cursor whose statements wait at most the connection's deadline."""

    def execute(self, *args: Any, **kwargs: Any) -> "DeadlineCursor":
        with watched(self.connection):
            return super().execute(*args, **kwargs)

    def executemany(self, *args: Any, **kwargs: Any) -> None:
        with watched(self.connection):
            super().executemany(*args, **kwargs)


class DeadlineConnection(psycopg.Connection):
    """A connection whose commits and rollbacks wait at most `deadline_seconds`
    (set by `connect_with_deadline`)."""

    deadline_seconds: float

    def commit(self) -> None:
        with watched(self):
            super().commit()

    def rollback(self) -> None:
        with watched(self):
            super().rollback()


def connect_with_deadline(seconds: float):
    """A `do_connect` listener: the engine's connections get a deadline."""

    def connect(dialect, record, cargs, cparams) -> DeadlineConnection:
        connection = DeadlineConnection.connect(
            *cargs, cursor_factory=DeadlineCursor, **cparams
        )
        connection.deadline_seconds = seconds
        return connection

    return connect
