"""Redis Sentinel: the master dies mid-long task, Sentinel promotes its replica,
and the web and the workers follow it without a restart.

The default bake runs in production (gunicorn, a prefork worker, an idle
`-Q mail` worker, PostgreSQL) with `sentinel://` URLs for the broker and the
results: a private Redis master, its replica and three Sentinels (quorum 2),
all on loopback ports of their own. One test SIGKILLs the master while long tasks
run and one waits in the queue, once the replica holds every write made so
far (Redis replicates asynchronously: a write of the master's last instant
may never reach the replica, and no setting of this project changes that);
the other restarts the master too fast for a failover."""

import itertools
import os
import shutil
import signal
import socket
import time
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace

import pytest
import redis
import requests
from stack import Stack, poll_task
from support import (
    ManagedProcess,
    baked,
    free_port,
    http_get,
    http_post,
    private_redis,
    production_env,
    run_project,
    wait_for_port,
    wait_until,
)

pytestmark = pytest.mark.e2e

FINAL = {"SUCCESS", "FAILURE", "REVOKED"}
MASTER_NAME = "flaskcelery"
# POST /tasks per client in this test; the rate-limit probe uses it all.
RATE_LIMIT = 5
# A Sentinel calls the master down after this many ms without an answer.
DOWN_AFTER_MS = 1000
# Numbers of the clients post_task makes up.
CLIENTS = itertools.count()


def sentinel(folder: Path, master_port: int) -> ManagedProcess:
    """A Sentinel (redis-server in sentinel mode) watching the master.

    Sentinel rewrites its config file as it learns: each gets its own.
    """
    port = free_port()
    config = folder / f"sentinel-{port}.conf"
    text = sentinel_config("127.0.0.1", port, folder, "127.0.0.1", master_port)
    config.write_text(text)
    process = ManagedProcess(
        [shutil.which("redis-server"), str(config), "--sentinel"],
        cwd=folder,
        env=dict(os.environ),
        log=folder / f"sentinel-{port}.log",
    ).start()
    wait_for_port("127.0.0.1", port, timeout=10)
    process.port = port
    return process


def sentinel_config(
    bind: str,
    port: int,
    folder: Path,
    master_host: str,
    master_port: int,
    more: Sequence[str] = (),
) -> str:
    """A Sentinel's config file: it watches MASTER_NAME (quorum 2) and calls
    it down after DOWN_AFTER_MS; `more` are further lines."""
    lines = [
        f"port {port}",
        f"bind {bind}",
        f"dir {folder}",
        f"sentinel monitor {MASTER_NAME} {master_host} {master_port} 2",
        *more,
        f"sentinel down-after-milliseconds {MASTER_NAME} {DOWN_AFTER_MS}",
        f"sentinel failover-timeout {MASTER_NAME} 10000",
        f"sentinel parallel-syncs {MASTER_NAME} 1",
    ]
    return "\n".join(lines) + "\n"


def master_port(sentinel_port: int) -> int | None:
    """The master's port as this Sentinel knows it."""
    client = redis.Redis(port=sentinel_port, socket_timeout=2, decode_responses=True)
    with client:
        address = client.sentinel_get_master_addr_by_name(MASTER_NAME)
    return int(address[1]) if address else None


def watching(sentinel_port: int, host: str = "127.0.0.1") -> bool:
    """The Sentinel knows the replica and the two other Sentinels."""
    client = redis.Redis(
        host=host, port=sentinel_port, socket_timeout=2, decode_responses=True
    )
    with client:
        state = client.sentinel_master(MASTER_NAME)
    return state["num-slaves"] == 1 and state["num-other-sentinels"] == 2


@pytest.fixture
def servers(tmp_path):
    """Master, replica and three Sentinels, each in a folder of its own.

    Tests may replace the master (a restart): whatever runs at the end stops.
    """
    folders = {}
    for name in ("master", "replica", "sentinels"):
        folders[name] = tmp_path / name
        folders[name].mkdir()
    group = SimpleNamespace(master=None, replica=None, sentinels=[], url="")
    try:
        # Persistent, as the project's docs advise: a master that restarts
        # empty would have its replica copy the emptiness.
        group.master = private_redis(folders["master"], persistent=True)
        group.replica = private_redis(
            folders["replica"],
            persistent=True,
            options=["--replicaof", "127.0.0.1", str(group.master.port)],
        )
        for _ in range(3):
            group.sentinels.append(sentinel(folders["sentinels"], group.master.port))
        wait_until(
            lambda: all(watching(each.port) for each in group.sentinels),
            timeout=60,
            message="the Sentinels never saw the replica and each other",
        )
        group.url = ";".join(
            f"sentinel://127.0.0.1:{each.port}" for each in group.sentinels
        )
        yield group
    finally:
        for process in [*group.sentinels, group.replica, group.master]:
            if process is not None:
                process.stop()


@pytest.fixture
def stack(cookies, project_venv, servers, database_url, tmp_path):
    """The default bake in production on the Sentinel group."""
    project = baked(cookies, use_redis_sentinel=True)
    env = production_env(
        project_venv,
        project,
        CELERY_BROKER_URL=servers.url,
        CELERY_RESULT_BACKEND=servers.url,
        CELERY_SENTINEL_MASTER=MASTER_NAME,
        DATABASE_URL=database_url,
        TASKS_RATE_LIMIT=f"{RATE_LIMIT}/hour",
        # Rate limits count the address in X-Forwarded-For: each request of
        # this test names its own client, the probe a fixed one.
        FORWARDED_PROXIES="1",
    )
    running = Stack(project, project_venv, env, tmp_path / "logs")
    running.log_dir.mkdir()
    try:
        running.migrate()
        running.start_worker("worker", "--concurrency", "2")
        # Idle through the failover: its channel is waiting on Redis then.
        running.start_worker("mail", "-Q", "mail", "--concurrency", "1")
        running.start_web()
        yield running
    finally:
        running.stop()


def post_task(stack: Stack, client: str | None = None, **body) -> requests.Response:
    """POST /tasks as `client` (an address; by default a new one each time)."""
    if client is None:
        number = next(CLIENTS)
        client = f"10.0.{number // 250}.{number % 250 + 1}"
    return http_post(
        stack.url("/tasks"), json=body, headers={"X-Forwarded-For": client}, timeout=15
    )


def start(stack: Stack, **body) -> str:
    response = post_task(stack, **body)
    assert response.status_code == 202, response.text
    return stack.url(response.json()["status_url"])


def progress(status_url: str) -> int:
    """A long task's current step; -1 while its status cannot be read."""
    response = http_get(status_url, timeout=15)
    return response.json()["current"] if response.ok else -1


def healthy(stack: Stack) -> bool:
    return http_get(stack.url("/healthz"), timeout=15).status_code == 200


def accepted(stack: Stack) -> dict | None:
    """A new task's answer (id, status_url), or None while POST /tasks answers 503."""
    response = post_task(stack, total=2, delay=0)
    assert response.status_code in {202, 503}, response.text
    return response.json() if response.ok else None


def back_in_service(stack: Stack, since: float) -> tuple[float, float, dict]:
    """Wait for /healthz to answer 200, then for POST /tasks to accept a task.

    Returns the seconds after `since` when each happened, and the accepted
    task's answer.
    """
    wait_until(lambda: healthy(stack), timeout=60, message=stack.logs)
    healthy_after = time.monotonic() - since
    answers: list[dict | None] = []
    wait_until(
        lambda: answers.append(accepted(stack)) or answers[-1],
        timeout=60,
        interval=0.5,
        message=stack.logs,
    )
    return healthy_after, time.monotonic() - since, answers[-1]


def ping(stack: Stack, name: str, timeout: float = 30) -> None:
    """`celery inspect ping` to one worker, as its health check does.

    A worker whose connection broke reconnects with back-off: it has
    `timeout` seconds to answer again.
    """
    node = f"{name}@{socket.gethostname()}"
    command = ("celery", "-A", "celery_worker.celery", "inspect", "ping", "-d", node)
    deadline = time.monotonic() + timeout
    while True:
        try:
            run_project(stack.project, stack.venv, *command, env=stack.env)
            return
        except AssertionError as error:
            if time.monotonic() > deadline:
                raise AssertionError(f"{error}\n{stack.logs()}") from None


def test_web_and_worker_follow_the_master_through_a_failover(stack, servers):
    """Tasks accepted before the master dies end SUCCESS, new ones run,
    /healthz comes back, the rate limiter counts on: no process restarted."""
    first = poll_task(start(stack, total=2, delay=0), FINAL, stack.logs)[-1]
    assert first["state"] == "SUCCESS", stack.logs()
    probe = "192.0.2.7"  # the rate-limit probe's address
    for _ in range(RATE_LIMIT - 2):
        assert post_task(stack, probe, total=1, delay=0).status_code == 202
    # Two long tasks run (concurrency 2) and a third waits in the queue.
    long_tasks = [start(stack, total=40, delay=0.25) for _ in range(3)]
    for status_url in long_tasks[:2]:
        poll_task(status_url, {"PROGRESS"}, stack.logs)
    before = [progress(status_url) for status_url in long_tasks[:2]]
    # Every write so far (tasks, rate-limit counts) is on the replica too.
    master = redis.Redis(port=servers.master.port, socket_timeout=5)
    master.set("test:replicated", 1)
    assert master.wait(1, 5000) == 1
    master.close()

    servers.master.signal_session(signal.SIGKILL)
    servers.master.wait(10)
    killed = time.monotonic()
    wait_until(
        lambda: all(
            master_port(each.port) == servers.replica.port for each in servers.sentinels
        ),
        timeout=60,
        message="Sentinel never promoted the replica",
    )
    promoted = time.monotonic() - killed
    healthy_again, accepting, fresh = back_in_service(stack, killed)
    wait_until(
        lambda: all(
            progress(status_url) > then
            for status_url, then in zip(long_tasks[:2], before, strict=True)
        ),
        timeout=60,
        message=stack.logs,
    )
    moving = time.monotonic() - killed
    final = poll_task(stack.url(fresh["status_url"]), FINAL, stack.logs)[-1]
    assert final["state"] == "SUCCESS", stack.logs()
    running_again = time.monotonic() - killed
    print(
        f"after SIGKILL of the master: promoted {promoted:.1f} s, /healthz 200 "
        f"{healthy_again:.1f} s, POST /tasks 202 {accepting:.1f} s, long tasks moving "
        f"{moving:.1f} s, a new task SUCCESS {running_again:.1f} s"
    )

    for status_url in long_tasks:
        final = poll_task(status_url, FINAL, stack.logs, timeout=120)[-1]
        assert final["state"] == "SUCCESS", stack.logs()
        assert final["current"] == final["total"] == 40
    print(f"every long task SUCCESS {time.monotonic() - killed:.1f} s after the kill")

    # The probe's counts were replicated and go on on the new master: two
    # more requests pass, the next is refused.
    answers = [post_task(stack, probe, total=1, delay=0) for _ in range(3)]
    assert [answer.status_code for answer in answers] == [202, 202, 429]
    assert int(answers[-1].headers["Retry-After"]) > 0
    new_master = redis.Redis(port=servers.replica.port, socket_timeout=5)
    with new_master:
        assert new_master.keys("LIMITS:*"), "the limits are not counted in Redis"

    # No process restarted, the workers answer, and each long task ran once.
    for name, process in stack.processes.items():
        assert process.process.poll() is None, f"{name} ended\n{stack.logs()}"
    for name in ("worker", "mail"):
        ping(stack, name)
    worker_log = stack.processes["worker"].log_text()
    for status_url in long_tasks:
        task_id = status_url.rsplit("/", 1)[1]
        assert worker_log.count(f"[{task_id}] succeeded") == 1


@pytest.mark.parametrize("noticed", ["at once", "late"])
def test_a_master_restart_without_failover_keeps_every_worker(stack, servers, noticed):
    """Back before a Sentinel calls it down, the master is still the master.

    Kombu's own Sentinel channel killed the worker running a long task (an
    AttributeError as it reconnects). A worker that notices the restart
    late (stopped here meanwhile, as a busy one might be) finds Redis back
    when it closes its channel: kombu puts the running long task back on the
    queue, and acknowledging the first run must not kill the worker either.
    The long task then runs twice, as Celery says tasks acknowledged late may.
    """
    status_url = start(stack, total=40, delay=0.1)
    poll_task(status_url, {"PROGRESS"}, stack.logs)
    worker = stack.processes["worker"]
    if noticed == "late":
        worker.send_signal(signal.SIGSTOP)  # its main process; the long task runs on
    master = servers.master
    master.stop()
    servers.master = private_redis(Path(master.cwd), port=master.port, persistent=True)
    worker.send_signal(signal.SIGCONT)
    final = poll_task(status_url, FINAL, stack.logs, timeout=120, outage=True)[-1]
    assert final["state"] == "SUCCESS", stack.logs()
    final = poll_task(start(stack, total=2, delay=0), FINAL, stack.logs)[-1]
    assert final["state"] == "SUCCESS", stack.logs()
    for name, process in stack.processes.items():
        assert process.process.poll() is None, f"{name} ended\n{stack.logs()}"
    ping(stack, "worker")
    ping(stack, "mail")
