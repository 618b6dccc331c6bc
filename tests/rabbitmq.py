"""A RabbitMQ node of a test's own, which the test may stop and restart.

The machine's RabbitMQ (port 5672) is shared by tests running in parallel;
a test that restarts its broker, or changes its policies, gets a private
node instead: its own port, node name and data folder, started with the
machine's `rabbitmq-server` (run as root, which it switches to the
`rabbitmq` user, as Debian's package does).
"""

import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from support import ManagedProcess, free_port, port_is_open, wait_until


class PrivateRabbitMQ:
    """One RabbitMQ node; its data survives `restart()`.

    It listens on `address` (loopback by default). `prefix` runs it, and
    rabbitmqctl beside it, somewhere else: `ip netns exec NAME` runs them in
    a cluster's host (tests/cluster.py), whose own loopback then carries
    the node's name service (epmd). `settings` are extra lines of
    rabbitmq.conf. Its files are in a folder of its own under the system's
    temporary folder (pytest's are private to root): `stop()` removes it.
    """

    def __init__(
        self,
        address: str = "127.0.0.1",
        prefix: Sequence[str] = (),
        settings: Sequence[str] = (),
    ) -> None:
        self.folder = folder = Path(tempfile.mkdtemp(prefix="rabbitmq-test-"))
        self.address, self.prefix = address, list(prefix)
        self.port = free_port()
        self.node = f"test{self.port}@localhost"
        self.url = f"amqp://guest:guest@{address}:{self.port}//"
        self.process: ManagedProcess | None = None
        self.starts = 0
        config = folder / "rabbitmq.conf"
        # guest may log in over TCP, which RabbitMQ allows on loopback only
        # unless told otherwise: this node is the test's own.
        lines = [f"listeners.tcp.1 = {address}:{self.port}", "loopback_users = none"]
        config.write_text("\n".join([*lines, *settings, ""]))
        self.env = {
            **os.environ,
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(free_port()),
            "RABBITMQ_CONFIG_FILE": str(config),
            "RABBITMQ_MNESIA_BASE": str(folder / "mnesia"),
            "RABBITMQ_LOG_BASE": str(folder / "log"),
            "RABBITMQ_PID_FILE": str(folder / "node.pid"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(folder / "enabled_plugins"),
        }
        # The server runs as the `rabbitmq` user: its folder must be its own.
        shutil.chown(folder, user="rabbitmq")

    def start(self) -> "PrivateRabbitMQ":
        self.starts += 1
        self.process = ManagedProcess(
            [*self.prefix, shutil.which("rabbitmq-server")],
            cwd=self.folder,
            env=self.env,
            log=self.folder / f"server-{self.starts}.log",
        ).start()
        wait_until(
            lambda: port_is_open(self.address, self.port),
            timeout=90,
            message=lambda: (
                f"RabbitMQ node {self.node} did not start:\n"
                + self.process.log_text()[-3000:]
            ),
        )
        return self

    def ctl(self, *arguments: str) -> str:
        """`rabbitmqctl` for this node; its output."""
        return subprocess.run(
            [*self.prefix, "rabbitmqctl", "-n", self.node, *arguments],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout

    def stop(self, keep_data: bool = False) -> None:
        """Stop the node cleanly; its folder goes too unless `keep_data`."""
        if self.process is not None:
            # The server runs in a session of its own (the wrapper's `su`):
            # rabbitmqctl stops it, then the wrapper is reaped.
            self.ctl("stop")
            wait_until(lambda: not port_is_open(self.address, self.port), timeout=60)
            self.process.stop()
            self.process = None
        if not keep_data:
            shutil.rmtree(self.folder, ignore_errors=True)

    def restart(self) -> None:
        """Stop and start again: durable queues and their messages remain."""
        self.stop(keep_data=True)
        self.start()
