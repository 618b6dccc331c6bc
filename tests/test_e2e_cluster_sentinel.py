"""Redis Sentinel across hosts: the master's host is cut off, not killed.

The default bake with `sentinel://` URLs: the Redis master on the broker
host, its replica on host b, a Sentinel on each of the broker, b and web
hosts (quorum 2); gunicorn on the web host, a worker on host a. When the
broker host's link goes down, its master keeps running, unreachable: no
connection to it breaks, they stall. The two Sentinels left promote the
replica, and the web and the worker must find out by themselves, through
their time-outs, that the master they hold connections to is gone. On one
loopback (tests/test_e2e_sentinel.py) a killed master resets every
connection at once; this is the case that cannot be made there.
"""

import shutil
import time
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
import redis
from cluster import Cluster, ClusterStack, Host, link_cut, running_on
from stack import poll_task, start_task
from support import (
    baked,
    wait_for_port,
    wait_until,
)
from test_e2e_cluster import finished, query, states, wait_for_success
from test_e2e_sentinel import (
    FINAL,
    MASTER_NAME,
    back_in_service,
    sentinel_config,
    watching,
)

pytestmark = pytest.mark.e2e

SENTINEL_PORT = 26379
# The hosts that run a Sentinel; the broker host's is listed first, as a
# user's URL may: clients must get past it while it is cut off.
SENTINEL_HOSTS = ("broker", "b", "web")


def start_sentinel(cluster: Cluster, host: Host, master: Host, password: str, folder):
    """A Sentinel on `host` watching the master on `master` (quorum 2).

    Sentinel rewrites its config file as it learns: each has its own. It
    has no password of its own; it logs in to the Redis servers with theirs.
    """
    config = folder / f"sentinel-{host.name}.conf"
    config.write_text(
        sentinel_config(
            host.address,
            SENTINEL_PORT,
            folder,
            master.address,
            6379,
            ["protected-mode no", f"sentinel auth-pass {MASTER_NAME} {password}"],
        )
    )
    command = [shutil.which("redis-server"), str(config), "--sentinel"]
    cluster.run(host, command, folder, {}, folder / f"sentinel-{host.name}.log")
    wait_for_port(host.address, SENTINEL_PORT, timeout=10)


def sentinel_client(host: Host) -> redis.Redis:
    return redis.Redis(
        host=host.address, port=SENTINEL_PORT, socket_timeout=2, decode_responses=True
    )


def master_address(host: Host) -> str | None:
    """The master's address as the Sentinel on `host` knows it."""
    with sentinel_client(host) as client:
        address = client.sentinel_get_master_addr_by_name(MASTER_NAME)
    return address[0] if address else None


@pytest.fixture(scope="module")
def group(cluster, tmp_path_factory) -> SimpleNamespace:
    """Master on the broker host, replica on b, a Sentinel on each of
    SENTINEL_HOSTS; `url` is the `sentinel://` URL for the project."""
    folder = tmp_path_factory.mktemp("sentinel-group")
    hosts = cluster.hosts
    master_url = cluster.start_redis(hosts["broker"], folder)
    password = urlsplit(master_url).password
    (folder / "replica").mkdir()
    cluster.start_redis(
        hosts["b"],
        folder / "replica",
        password=password,
        options=["--replicaof", hosts["broker"].address, "6379"]
        + ["--masterauth", password],
    )
    for name in SENTINEL_HOSTS:
        start_sentinel(cluster, hosts[name], hosts["broker"], password, folder)
    wait_until(
        lambda: all(
            watching(SENTINEL_PORT, hosts[name].address) for name in SENTINEL_HOSTS
        ),
        timeout=60,
        message="the Sentinels never saw the replica and each other",
    )
    # The master's password goes in the first URL (Celery's notation).
    addresses = [f"{hosts[name].address}:{SENTINEL_PORT}" for name in SENTINEL_HOSTS]
    url = ";".join(
        [f"sentinel://:{password}@{addresses[0]}"]
        + [f"sentinel://{address}" for address in addresses[1:]]
    )
    return SimpleNamespace(master_url=master_url, url=url)


@pytest.fixture(scope="module")
def stack(cookies_session, project_venv, cluster, group, database, tmp_path_factory):
    """The default bake in production on the Sentinel group; a worker on a."""
    with running_on(
        cluster,
        baked(cookies_session, use_redis_sentinel=True),
        project_venv,
        database,
        tmp_path_factory.mktemp("cluster-sentinel"),
        CELERY_BROKER_URL=group.url,
        CELERY_RESULT_BACKEND=group.url,
        CELERY_SENTINEL_MASTER=MASTER_NAME,
    ) as running:
        running.start_worker_on(cluster.hosts["a"], "--concurrency", "2")
        yield running


def succeed(stack: ClusterStack, task_ids) -> None:
    """Poll each task until SUCCESS; a 503 (a web process still finding the
    new master) counts as "not yet"."""
    for task_id in task_ids:
        [*_, last] = poll_task(
            stack.url(f"/tasks/{task_id}"), FINAL, stack.logs, timeout=120, outage=True
        )
        assert last["state"] == "SUCCESS", stack.logs()


def test_the_masters_host_cut_off_mid_task(stack, cluster, group, database):
    """Long tasks accepted before the cut end SUCCESS once, new tasks run, and
    /healthz comes back, on the replica that the Sentinels promoted; no
    process restarts. When the link is back, the old master is a replica."""
    hosts = cluster.hosts
    assert wait_for_success(stack, [start_task(stack, total=2, delay=0)], timeout=60)
    # Two long tasks run (concurrency 2) and a third waits in the queue.
    long_tasks = [start_task(stack, total=40, delay=0.25) for _ in range(3)]
    wait_until(
        lambda: set(states(stack, long_tasks[:2]).values()) == {"PROGRESS"},
        timeout=30,
        message=stack.logs,
    )
    # Every write so far is on the replica too (Redis replicates
    # asynchronously: the master's last instant may never reach it).
    master = redis.Redis.from_url(group.master_url, socket_timeout=5)
    master.set("test:replicated", 1)
    assert master.wait(1, 5000) == 1
    master.close()

    with link_cut(cluster, hosts["broker"]):
        cut = time.monotonic()
        wait_until(
            lambda: all(
                master_address(hosts[name]) == hosts["b"].address
                for name in SENTINEL_HOSTS[1:]
            ),
            timeout=60,
            message="Sentinel never promoted the replica",
        )
        promoted = time.monotonic() - cut
        healthy_again, accepting, fresh = back_in_service(stack, cut)
        succeed(stack, [fresh["id"]])
        new_task = time.monotonic() - cut
        succeed(stack, long_tasks)
        every_long_task = time.monotonic() - cut
    print(
        f"\nmaster's host cut off: promoted {promoted:.1f} s, /healthz 200 "
        f"{healthy_again:.1f} s, POST /tasks 202 {accepting:.1f} s, a new task "
        f"SUCCESS {new_task:.1f} s, the long tasks (two running, one queued) SUCCESS "
        f"{every_long_task:.1f} s"
    )

    # Back on the network, the old master is told it is a replica now.
    wait_until(
        lambda: master_address(hosts["broker"]) == hosts["b"].address,
        timeout=60,
        message="the old master's Sentinel never learnt of the failover",
    )
    for name, process in stack.processes.items():
        assert process.process.poll() is None, f"{name} ended\n{stack.logs()}"
    runs = finished(stack)["worker-a"]
    assert all(runs[task_id] == 1 for task_id in long_tasks), runs
    for task_id in long_tasks:
        [row] = query(database, "SELECT * FROM jobs WHERE id = %s", task_id)
        assert (row["state"], row["current"]) == ("SUCCESS", 40)
