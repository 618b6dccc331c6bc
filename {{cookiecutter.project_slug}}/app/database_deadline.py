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
from typing import Any

import psycopg

logger = logging.getLogger(__name__)

# Seconds between two looks of the watchdog at the calls it watches.
CHECK_INTERVAL = 0.2


class Watchdog:
    """Shuts down the socket of a connection whose call ran past its deadline."""

    def __init__(self) -> None:
        self.deadlines: dict[int, tuple[float, psycopg.Connection]] = {}
        self.lock = threading.Lock()
        self.pid: int | None = None

    def watch(self, connection: "DeadlineConnection") -> None:
        if self.pid != os.getpid():  # first use, or a forked pool process
            self.start()
        deadline = time.monotonic() + connection.deadline_seconds
        with self.lock:
            self.deadlines[id(connection)] = (deadline, connection)

    def release(self, connection: "DeadlineConnection") -> None:
        with self.lock:
            self.deadlines.pop(id(connection), None)

    def start(self) -> None:
        with self.lock:
            if self.pid == os.getpid():
                return
            self.pid = os.getpid()
            self.deadlines.clear()  # a parent's connections are not ours
        threading.Thread(target=self.run, name="database-deadline", daemon=True).start()

    def run(self) -> None:
        while True:
            time.sleep(CHECK_INTERVAL)
            now = time.monotonic()
            with self.lock:
                late = [
                    self.deadlines.pop(key)[1]
                    for key, (deadline, _) in list(self.deadlines.items())
                    if deadline <= now
                ]
            for connection in late:
                shut_down(connection)


def shut_down(connection: psycopg.Connection) -> None:
    """End the connection's wait: its socket reads end-of-file from now on."""
    logger.warning(
        "The database did not answer within %s s: connection dropped.",
        getattr(connection, "deadline_seconds", "?"),
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


class DeadlineCursor(psycopg.Cursor):
    """A cursor whose statements wait at most the connection's deadline."""

    def execute(self, *args: Any, **kwargs: Any) -> "DeadlineCursor":
        WATCHDOG.watch(self.connection)
        try:
            return super().execute(*args, **kwargs)
        finally:
            WATCHDOG.release(self.connection)

    def executemany(self, *args: Any, **kwargs: Any) -> None:
        WATCHDOG.watch(self.connection)
        try:
            return super().executemany(*args, **kwargs)
        finally:
            WATCHDOG.release(self.connection)


class DeadlineConnection(psycopg.Connection):
    """A connection whose commits and rollbacks wait at most `deadline_seconds`."""

    deadline_seconds: float = 5.0

    def commit(self) -> None:
        WATCHDOG.watch(self)
        try:
            super().commit()
        finally:
            WATCHDOG.release(self)

    def rollback(self) -> None:
        WATCHDOG.watch(self)
        try:
            super().rollback()
        finally:
            WATCHDOG.release(self)


def connect_with_deadline(seconds: float):
    """A `do_connect` listener: the engine's connections get a deadline."""

    def connect(dialect, record, cargs, cparams) -> DeadlineConnection:
        connection = DeadlineConnection.connect(
            *cargs, cursor_factory=DeadlineCursor, **cparams
        )
        connection.deadline_seconds = seconds
        return connection

    return connect
