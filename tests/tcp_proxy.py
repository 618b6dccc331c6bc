"""A TCP proxy a test owns, to stop, hang and resume a server it forwards to.

The baked project reaches PostgreSQL through it, so a test can take the
database away from running processes without touching the real server:

- `stop()`: the port refuses connections and open ones are cut, as when
  the database is stopped;
- `hang()`: connections are accepted but no byte goes through, either way,
  as when the database (or the network to it) is stuck;
- `start()`: forward again, on the same port.
"""

import contextlib
import socket
import threading
import time

from support import free_port

# Seconds between looks at the stop flag while waiting for a connection.
POLL_INTERVAL = 0.1


class TCPProxy:
    """Forwards 127.0.0.1:`port` to `host`:`target_port`, a thread per direction."""

    def __init__(self, host: str, target_port: int, port: int | None = None) -> None:
        self.target = (host, target_port)
        self.port = port or free_port()
        self.hanging = False
        self.listener: socket.socket | None = None
        self.accepting: threading.Thread | None = None
        self.sockets: set[socket.socket] = set()
        self.lock = threading.Lock()

    def start(self) -> "TCPProxy":
        """Listen (again) and forward whatever comes."""
        if self.hanging:  # connections accepted while hanging lead nowhere
            self.hanging = False
            self.cut()
        if self.listener is None:
            listener = socket.socket()
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(("127.0.0.1", self.port))
            listener.listen(64)
            listener.settimeout(POLL_INTERVAL)
            self.listener = listener
            self.accepting = threading.Thread(
                target=self.accept, args=(listener,), daemon=True
            )
            self.accepting.start()
        return self

    def stop(self) -> None:
        """Refuse new connections and cut the open ones."""
        listener, self.listener = self.listener, None
        if listener is not None:
            listener.close()
            self.accepting.join()
        self.cut()

    def hang(self, cut: bool = True) -> None:
        """Accept connections but pass nothing.

        The open connections are cut first (the server was restarted, then
        got stuck), unless `cut` is false: then they stall too.
        """
        self.start()
        self.hanging = True
        if cut:
            self.cut()

    def cut(self) -> None:
        """Close every forwarded connection, both ends."""
        with self.lock:
            sockets, self.sockets = self.sockets, set()
        for sock in sockets:
            close(sock)

    def accept(self, listener: socket.socket) -> None:
        while self.listener is listener:
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:  # closed by stop()
                return
            client.settimeout(None)
            with self.lock:
                self.sockets.add(client)
            if not self.hanging:
                threading.Thread(
                    target=self.connect, args=(client,), daemon=True
                ).start()

    def connect(self, client: socket.socket) -> None:
        try:
            server = socket.create_connection(self.target, timeout=5)
        except OSError:
            self.forget(client)
            return
        server.settimeout(None)
        with self.lock:
            self.sockets.add(server)
        for source, sink in ((client, server), (server, client)):
            threading.Thread(target=self.pump, args=(source, sink), daemon=True).start()

    def pump(self, source: socket.socket, sink: socket.socket) -> None:
        """Copy bytes from `source` to `sink` until either side closes."""
        try:
            while data := source.recv(65536):
                while self.hanging and source.fileno() != -1:
                    time.sleep(POLL_INTERVAL)
                sink.sendall(data)
        except OSError:
            pass
        finally:
            self.forget(source)
            self.forget(sink)

    def forget(self, sock: socket.socket) -> None:
        with self.lock:
            self.sockets.discard(sock)
        close(sock)

    def __enter__(self) -> "TCPProxy":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def close(sock: socket.socket) -> None:
    """Shut down (which wakes a thread blocked reading it), then close."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
