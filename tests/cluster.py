"""Many hosts on one machine: Linux network namespaces joined by a bridge.

Each host is a network namespace of its own, with loopback and one veth
link to a bridge in the machine's own (root) namespace. The bridge has an
address too, so this process reaches every host, and every host reaches
servers that listen on the bridge's address (PostgreSQL, through a proxy,
which the hosts could not reach on the machine's 127.0.0.1). Processes run
in a host with `ip netns exec`; they talk to each other by address, over
their links, never over a shared loopback, so a link can be cut (`cut()`)
while its processes keep running, as when a cable or a switch port fails.

Names and the subnet are unique to each cluster (the pid of the test process
and a count; a /24 under 10.213.0.0/16 that no interface of the machine
uses), so that test processes running side by side never collide. Whatever
a crashed run left behind (its process is gone) is removed by the next one.
Building a cluster needs root and iproute2; `skip_reason()` says, in one
line, why it cannot be built here.
"""

import contextlib
import itertools
import os
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from filelock import FileLock
from stack import Stack
from support import (
    POSTGRES_HOST,
    POSTGRES_PORT,
    POSTGRES_USER,
    ManagedProcess,
    ProjectVenv,
    production_env,
    wait_for_port,
    wait_until,
)
from tcp_proxy import TCPProxy

# Subnets are taken from 10.213.0.0/16, one /24 per cluster.
SUBNET_PREFIX = "10.213"
# Names of namespaces and links start with this, the test process's pid and
# a count: "fc1234x0-web", "fc1234x0v1".
NAME_PATTERN = re.compile(r"^fc(\d+)x\d+")
_counter = itertools.count()
# Taken while a cluster picks its subnet and creates its links.
LOCK_FILE = Path(tempfile.gettempdir()) / "flask-celery-cluster.lock"


def skip_reason() -> str | None:
    """Why no cluster can be built on this machine, or None if one can."""
    if shutil.which("ip") is None:
        return "the cluster tests need iproute2's `ip` command"
    if os.geteuid() != 0:
        return "the cluster tests create network namespaces: run them as root"
    probe = f"fc{os.getpid()}x-probe"
    created = ip("netns", "add", probe, check=False)
    if created.returncode != 0:
        return f"`ip netns add` is not allowed here: {created.stderr.strip()}"
    ip("netns", "del", probe, check=False)
    return None


def ip(*args: str, namespace: str | None = None, check: bool = True):
    """Run `ip ARGS` (in `namespace` if given); fail with its error message."""
    command = ["ip", *args]
    if namespace:
        command = ["ip", "netns", "exec", namespace, *command]
    completed = subprocess.run(
        command, capture_output=True, text=True, timeout=30, check=False
    )
    if check and completed.returncode != 0:
        raise RuntimeError(f"{' '.join(command)}: {completed.stderr.strip()}")
    return completed


def remove_leftovers() -> None:
    """Namespaces, their processes and links of test processes that are gone.

    A test process killed outright (SIGKILL, a CI time-out) runs no
    teardown: what it built is removed here, by the next run.
    """

    def abandoned(name: str) -> bool:
        match = NAME_PATTERN.match(name)
        return bool(match) and not Path(f"/proc/{match[1]}").exists()

    for line in ip("netns", "list").stdout.splitlines():
        name = line.split()[0] if line.strip() else ""
        if abandoned(name):
            kill_every_process_in(name)
            ip("netns", "del", name, check=False)
    for line in ip("-o", "link", "show").stdout.splitlines():
        name = line.split(":")[1].strip().split("@")[0]
        if abandoned(name):
            ip("link", "del", name, check=False)


def kill_every_process_in(namespace: str) -> None:
    for pid in ip("netns", "pids", namespace, check=False).stdout.split():
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid), signal.SIGKILL)


@dataclass
class Host:
    """One machine of the cluster: a namespace, its address and its link."""

    name: str
    namespace: str
    address: str
    link: str  # the root-namespace end of its veth pair, on the bridge

    def command(self, command: Sequence[str]) -> list[str]:
        """`command` as run in this host."""
        return ["ip", "netns", "exec", self.namespace, *command]


@dataclass
class Cluster:
    """A bridge in the root namespace and hosts behind it; `close()` undoes all."""

    tag: str = field(default_factory=lambda: f"fc{os.getpid()}x{next(_counter)}")
    subnet: str = ""
    hosts: dict[str, Host] = field(default_factory=dict)
    processes: list[ManagedProcess] = field(default_factory=list)

    @property
    def bridge(self) -> str:
        return f"{self.tag}br"

    @property
    def gateway(self) -> str:
        """The bridge's own address: this process, as the hosts see it."""
        return f"{self.subnet}.1"

    def open(self) -> "Cluster":
        with FileLock(str(LOCK_FILE)):
            remove_leftovers()
            self.subnet = free_subnet()
            ip("link", "add", self.bridge, "type", "bridge")
            ip("addr", "add", f"{self.gateway}/24", "dev", self.bridge)
            ip("link", "set", self.bridge, "up")
        return self

    def add_host(self, name: str) -> Host:
        """A new namespace with loopback up and a link to the bridge."""
        number = len(self.hosts)
        host = Host(
            name=name,
            namespace=f"{self.tag}-{name}",
            address=f"{self.subnet}.{number + 2}",
            link=f"{self.tag}v{number}",
        )
        self.hosts[name] = host
        ip("netns", "add", host.namespace)
        ip("link", "set", "lo", "up", namespace=host.namespace)
        ip(
            "link",
            "add",
            host.link,
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            host.namespace,
        )
        ip("link", "set", host.link, "master", self.bridge)
        ip("link", "set", host.link, "up")
        ip("addr", "add", f"{host.address}/24", "dev", "eth0", namespace=host.namespace)
        ip("link", "set", "eth0", "up", namespace=host.namespace)
        return host

    def cut(self, host: Host) -> None:
        """Take the host's link down: its processes run on, unreachable."""
        ip("link", "set", host.link, "down")

    def mend(self, host: Host) -> None:
        ip("link", "set", host.link, "up")

    def start_redis(
        self,
        host: Host,
        folder: Path,
        port: int = 6379,
        password: str | None = None,
        options: Sequence[str] = (),
    ) -> str:
        """A redis-server listening on `host`'s address; returns its URL.

        It has a password (a new one unless given), as Redis reached from
        other hosts must: without one it refuses every client not on its own
        loopback (protected mode). `options` are more command-line settings,
        such as `--replicaof HOST PORT`.
        """
        executable = shutil.which("redis-server")
        assert executable, "redis-server is not installed: scripts/test installs it"
        password = password or secrets.token_hex(16)
        command = [executable, "--port", str(port), "--bind", host.address]
        command += ["--requirepass", password, "--save", "", "--appendonly", "no"]
        command += ["--dir", str(folder), *options]
        log = folder / f"redis-{host.name}-{port}.log"
        self.run(host, command, folder, dict(os.environ), log)
        wait_for_port(host.address, port, timeout=10)
        return f"redis://:{password}@{host.address}:{port}/0"

    def run(
        self,
        host: Host,
        command: Sequence[str],
        cwd: Path,
        env: dict[str, str],
        log: Path,
    ) -> ManagedProcess:
        """Start `command` in `host`; `close()` stops it."""
        process = ManagedProcess(host.command(command), cwd, env, log).start()
        self.processes.append(process)
        return process

    def close(self) -> None:
        """Stop every process, then remove every namespace and link made."""
        for process in reversed(self.processes):
            process.stop(grace=5)
        for host in self.hosts.values():
            # Daemons a server forked off in the host (RabbitMQ's epmd)
            # would keep its network alive after `netns del`.
            kill_every_process_in(host.namespace)
            ip("netns", "del", host.namespace, check=False)
            ip("link", "del", host.link, check=False)  # gone with its peer, or not
        ip("link", "del", self.bridge, check=False)

    def __enter__(self) -> "Cluster":
        try:
            return self.open()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def free_subnet() -> str:
    """A /24 of SUBNET_PREFIX no interface of the machine has an address in."""
    used = set(re.findall(r"inet (\d+\.\d+\.\d+)\.", ip("-o", "-4", "addr").stdout))
    for third in range(256):
        subnet = f"{SUBNET_PREFIX}.{third}"
        if subnet not in used:
            return subnet
    raise RuntimeError(f"every /24 of {SUBNET_PREFIX}.0.0/16 is taken")


@dataclass
class ClusterStack(Stack):
    """A baked project's processes, each on a host of `cluster`.

    The same commands as `Stack` (gunicorn, `celery worker`), started in a
    host by `ip netns exec`; worker names say which host they run on.
    """

    cluster: Cluster | None = None

    def start_worker_on(
        self, host: Host, *args: str, **settings: str
    ) -> ManagedProcess:
        """`celery worker` on `host`, named `worker@<host>`; waits until ready.

        `settings` are environment variables for this worker only.
        """
        [process] = self.start_workers_on([host], *args, **settings)
        return process

    def start_workers_on(
        self, hosts: Sequence[Host], *args: str, **settings: str
    ) -> list[ManagedProcess]:
        """A worker on each of `hosts`, started together; waits until all are ready."""
        processes = [
            self.start_on(host, *self.worker_command(host, *args), **settings)
            for host in hosts
        ]
        for host, process in zip(hosts, processes, strict=True):
            wait_until(
                lambda process=process: " ready." in process.log_text(),
                timeout=60,
                message=lambda host=host: (
                    f"no worker became ready on {host.name}\n{self.logs()}"
                ),
            )
        return processes

    def stop_workers(self) -> None:
        """Stop every worker started on the hosts (a test's own); the rest runs on."""
        for name in [name for name in self.processes if name.startswith("worker-")]:
            self.processes.pop(name).stop(grace=1)

    def worker_command(self, host: Host, *args: str) -> tuple[str, list[str]]:
        command = [str(self.venv.bin("celery")), "-A", "celery_worker.celery"]
        command += ["worker", "-l", "INFO", "--hostname", f"worker@{host.name}"]
        return f"worker-{host.name}", [*command, *args]

    def start_web_on(self, host: Host, port: int = 8000) -> ManagedProcess:
        """gunicorn on `host`'s address; tests reach it over the bridge."""
        self.base_url = f"http://{host.address}:{port}"
        command = [str(self.venv.bin("gunicorn")), "--bind", f"{host.address}:{port}"]
        command += ["--workers", "2", "--timeout", "30", "wsgi:app"]
        process = self.start_on(host, "web", command, APP_BASE_URL=self.base_url)
        wait_for_port(host.address, port, timeout=60)
        return process

    def start_on(
        self, host: Host, name: str, command: list[str], **settings: str
    ) -> ManagedProcess:
        """`command` in `host`, with `settings` added to the environment."""
        process = ManagedProcess(
            host.command(command),
            cwd=self.project,
            env={**self.env, **settings},
            log=self.log_dir / f"{name}.log",
        )
        self.processes[name] = process.start()
        return process


@contextlib.contextmanager
def running_on(
    cluster: Cluster,
    project: Path,
    venv: ProjectVenv,
    database: str,
    log_dir: Path,
    **settings: str,
):
    """`project` in production on `cluster`, migrated, gunicorn on the web host.

    The hosts reach PostgreSQL (`database`) through a proxy on the bridge's
    address; `settings` are the rest of the environment (the broker's URL).
    No worker yet; every process stops at the end.
    """
    with TCPProxy(POSTGRES_HOST, POSTGRES_PORT, listen_host=cluster.gateway) as proxy:
        url = f"postgresql://{POSTGRES_USER}@{cluster.gateway}:{proxy.port}/{database}"
        env = production_env(venv, project, DATABASE_URL=url, **settings)
        running = ClusterStack(project, venv, env, log_dir, cluster=cluster)
        try:
            running.migrate()
            running.start_web_on(cluster.hosts["web"])
            yield running
        finally:
            running.stop()


@contextlib.contextmanager
def link_cut(cluster: Cluster, host: Host):
    """The host's link is down inside the block, up again after it."""
    cluster.cut(host)
    try:
        yield
    finally:
        cluster.mend(host)
