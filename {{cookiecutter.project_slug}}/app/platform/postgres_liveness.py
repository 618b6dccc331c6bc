"""A wait for a PostgreSQL that stopped answering ends, with an error saying so.

libpq has no time-out for an answer. `statement_timeout` is the server's
to enforce, and a server that has stopped answering (frozen, or its host
cut off while the connection stays open) enforces nothing; TCP keepalives
and `tcp_user_timeout` do not help either while the peer's kernel still
acknowledges. A request would wait until gunicorn kills it (an HTML 500
after 30 s), a task until its time limit.

So each call that waits for the server (a statement, the pool's ping, a
commit, a rollback) is watched. Once it has waited `PROBE_AFTER` seconds,
a watchdog thread opens a new connection to the same server. If that
succeeds, the server is alive and the wait goes on: a slow statement is
never cut short, whatever its timeout (asked again every `PROBE_EVERY`
seconds). If it fails or times out (`connect_timeout`), the waiting
connection's socket is shut down and the call raises `StoppedAnswering`,
an `OperationalError`: the request answers 503, the pool drops the
connection, and the next one is new.

Only public psycopg APIs are used: a connection class, a cursor class
(`cursor_factory`) and the socket libpq reads from. Delete this module if
psycopg or libpq gains a time-out for answers.
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

# Seconds a call waits before the server is asked whether it is alive, and
# between two questions while it says it is.
PROBE_AFTER = 2.0
PROBE_EVERY = 10.0
# Seconds between two looks of the watchdog at the waits it watches.
CHECK_INTERVAL = 0.2


class StoppedAnswering(psycopg.OperationalError):
    """The server answered neither this call nor a new connection."""


class WatchedConnection(psycopg.Connection):
    """A connection whose waits end when the server stops answering.

    `probe_connect` (set when it is made) opens a new connection to the
    same server.
    """

    probe_connect: Any
    stopped_answering = False

    def commit(self) -> None:
        with watched(self):
            super().commit()

    def rollback(self) -> None:
        with watched(self):
            super().rollback()


class WatchedCursor(psycopg.Cursor):
    """A cursor whose statements end when the server stops answering."""

    def execute(self, *args: Any, **kwargs: Any) -> "WatchedCursor":
        with watched(self.connection):
            return super().execute(*args, **kwargs)

    def executemany(self, *args: Any, **kwargs: Any) -> None:
        with watched(self.connection):
            super().executemany(*args, **kwargs)


@contextmanager
def watched(connection: WatchedConnection) -> Iterator[None]:
    """The block's wait for the server ends if the server stops answering."""
    WATCHDOG.watch(connection)
    try:
        yield
    except psycopg.OperationalError as error:
        if connection.stopped_answering:
            raise StoppedAnswering(
                f"PostgreSQL stopped answering: no answer for {PROBE_AFTER:g} s, "
                "and no new connection either; this connection was dropped."
            ) from error
        raise
    finally:
        WATCHDOG.release(connection)


class Watchdog:
    """Asks the server of each long wait whether it is alive; ends the dead."""

    def __init__(self) -> None:
        self.reset()
        if hasattr(os, "register_at_fork"):
            # A forked process (a pool process) has no thread of its parent's
            # and must not inherit a lock held at the fork.
            os.register_at_fork(after_in_child=self.reset)

    def reset(self) -> None:
        self.next_probe: dict[WatchedConnection, float] = {}
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None

    def watch(self, connection: WatchedConnection) -> None:
        if self.thread is None:
            self.start()
        with self.lock:
            self.next_probe[connection] = time.monotonic() + PROBE_AFTER

    def release(self, connection: WatchedConnection) -> None:
        with self.lock:
            self.next_probe.pop(connection, None)

    def start(self) -> None:
        with self.lock:
            if self.thread is None:
                self.thread = threading.Thread(
                    target=self.run, name="postgres-liveness", daemon=True
                )
                self.thread.start()

    def run(self) -> None:
        while True:
            time.sleep(CHECK_INTERVAL)
            now = time.monotonic()
            with self.lock:
                due = [c for c, at in self.next_probe.items() if at <= now]
                for connection in due:
                    self.next_probe[connection] = float("inf")  # being asked
            for connection in due:
                threading.Thread(
                    target=self.probe, args=(connection,), daemon=True
                ).start()

    def probe(self, connection: WatchedConnection) -> None:
        alive = server_answers(connection)
        with self.lock:
            if connection not in self.next_probe:
                return  # the wait ended meanwhile
            if alive:
                self.next_probe[connection] = time.monotonic() + PROBE_EVERY
                return
            del self.next_probe[connection]
        logger.warning("PostgreSQL stopped answering: a connection is dropped.")
        connection.stopped_answering = True
        shut_down(connection)


def server_answers(connection: WatchedConnection) -> bool:
    """True if the server takes a new connection (within `connect_timeout`)."""
    try:
        connection.probe_connect().close()
    except psycopg.Error:
        return False
    return True


def shut_down(connection: WatchedConnection) -> None:
    """End the connection's wait: its socket reads end-of-file from now on."""
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


def connect(*args: Any, **kwargs: Any) -> WatchedConnection:
    """A watched connection; `psycopg.connect`'s arguments."""
    connection = WatchedConnection.connect(
        *args, cursor_factory=WatchedCursor, **kwargs
    )
    connection.probe_connect = lambda: psycopg.connect(*args, **kwargs)
    return connection
