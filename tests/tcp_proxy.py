"""A TCP proxy a test owns, to stop, hang and resume a server it forwards to.

The baked project reaches PostgreSQL through it, so a test can take the
database away from running processes without touching the real server:

- `stop()`: the port refuses connections and open ones are cut, as when
  the database is stopped;
- `hang()`: connections are accepted but no byte goes through, either way,
  as when the database (or the network to it) is stuck;
- `start()`: forward again, on the same port.

`DelayingProxy` is one whose bytes arrive late, each way: a link with latency.
"""

import contextlib
import queue
import socket
import threading
import time

from support import free_port

# Seconds between looks at the stop flag while waiting for a connection.
POLL_INTERVAL = 0.1


class TCPProxy:
    """Forwards `listen_host`:`port` to `host`:`target_port`, a thread per direction.

    `listen_host` is loopback unless a test needs the server reachable from
    elsewhere (tests/cluster.py: from the hosts behind its bridge).
    """

    def __init__(
        self,
        host: str,
        target_port: int,
        port: int | None = None,
        listen_host: str = "127.0.0.1",
    ) -> None:
        self.target = (host, target_port)
        self.listen_host = listen_host
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
            listener.bind((self.listen_host, self.port))
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
        with self.until_closed(source, sink):
            while data := source.recv(65536):
                self.pass_on(data, source, sink)

    @contextlib.contextmanager
    def until_closed(self, source: socket.socket, sink: socket.socket):
        """Pass bytes on inside the block; a closed side ends it, and both go."""
        try:
            yield
        except OSError:
            pass
        finally:
            self.forget(source)
            self.forget(sink)

    def pass_on(self, data: bytes, source: socket.socket, sink: socket.socket) -> None:
        """Send `data` to `sink` once the proxy stops hanging (or `source` closed)."""
        while self.hanging and source.fileno() != -1:
            time.sleep(POLL_INTERVAL)
        sink.sendall(data)

    def forget(self, sock: socket.socket) -> None:
        with self.lock:
            self.sockets.discard(sock)
        close(sock)

    def __enter__(self) -> "TCPProxy":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class DelayingProxy(TCPProxy):
    """A `TCPProxy` that delivers every chunk `delay` seconds after it came.

    It stands for a link's latency where the kernel has no `tc netem`: a
    connection through it waits 2 `delay` for each request and its answer.
    Each chunk read is queued with the time it is due (its arrival plus
    `delay`) and a sender per direction passes it on then, in order. So a
    burst of chunks goes through at full speed, each one late by `delay`,
    not by `delay` for each chunk ahead of it, as over a long link. `delay`
    may change while connections are open; chunks already queued keep theirs.
    """

    def __init__(self, *args, delay: float, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.delay = delay

    def pump(self, source: socket.socket, sink: socket.socket) -> None:
        """Queue what `source` sends; a sender passes it to `sink` when due."""
        for sock in (source, sink):  # no wait for a full packet: chunks are late enough
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        chunks: queue.SimpleQueue[tuple[float, bytes]] = queue.SimpleQueue()
        threading.Thread(
            target=self.send_when_due, args=(chunks, source, sink), daemon=True
        ).start()
        try:
            while data := source.recv(65536):
                chunks.put((time.monotonic() + self.delay, data))
        except OSError:
            pass
        chunks.put((time.monotonic() + self.delay, b""))  # the end, after the rest

    def send_when_due(
        self,
        chunks: "queue.SimpleQueue[tuple[float, bytes]]",
        source: socket.socket,
        sink: socket.socket,
    ) -> None:
        with self.until_closed(source, sink):
            while True:
                due, data = chunks.get()
                if not data:
                    break
                time.sleep(max(0.0, due - time.monotonic()))
                self.pass_on(data, source, sink)


def close(sock: socket.socket) -> None:
    """Shut down (which wakes a thread blocked reading it), then close."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
