"""A baked project as a cluster: broker, web and workers on hosts of their own.

Each host is a network namespace (tests/cluster.py): Redis on the broker
host, gunicorn on the web host, `celery worker` on two worker hosts, all
talking over their links by address. PostgreSQL is the machine's, reached
through a proxy on the bridge. The tests prove what one loopback cannot:
that work spreads over hosts, what a rolling deploy does to a long task, what
a host cut off from the others does, and what links with latency cost
short tasks. They print their timings (for
the README), never assert them.
"""

import collections
import os
import re
import signal
import statistics
import subprocess
import time
from urllib.parse import urlsplit

import psycopg
import pytest
import redis
import yaml
from celery import Celery
from celery.result import ResultSet
from cluster import ClusterStack, link_cut, running_on
from mail import SMTPServer, new_address, register
from psycopg.rows import dict_row
from stack import start_task
from support import (
    POSTGRES_PORT,
    baked,
    http_get,
    postgres_url,
    wait_until,
)
from tcp_proxy import DelayingProxy
from test_e2e_data import browser

pytestmark = pytest.mark.e2e

LONG_TASK = "app.tasks.progress.long_task"
MAIL = "app.tasks.email.send_confirmation_email"
SMTP_PORT = 2525
# Seconds before Redis gives a task held by a worker out of reach to
# another worker, in the test of a cut link (the default is an hour).
VISIBILITY = {"CELERY_VISIBILITY_TIMEOUT": "6"}
# A task that does nothing, registered on every worker (it is Celery's own)
# and run as the project's tasks are, in an app context: what is measured
# with it is the machinery and the round trips around a task.
NOOP = "celery.accumulate"
# Seconds of latency each way on the worker hosts' path to the broker.
LINK_DELAY = 0.005


@pytest.fixture(scope="module")
def smtp(cluster):
    """An SMTP server on the bridge's address, where the worker hosts reach it."""
    server = SMTPServer(SMTP_PORT, host=cluster.gateway)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def stack(cookies_session, project_venv, cluster, database, smtp, tmp_path_factory):
    """The default bake in production, gunicorn on the web host; no worker yet."""
    logs = tmp_path_factory.mktemp("cluster")
    with running_on(
        cluster,
        baked(cookies_session),
        project_venv,
        database,
        logs,
        CELERY_BROKER_URL=cluster.start_redis(cluster.hosts["broker"], logs),
        MAIL_SERVER=cluster.gateway,
        MAIL_PORT=str(SMTP_PORT),
    ) as running:
        yield running


@pytest.fixture(autouse=True)
def no_worker_left(request, tmp_path):
    """Each test starts its own workers on an empty broker; they stop after it.

    Their logs go to the test's own folder.
    """
    if "stack" not in request.fixturenames:
        yield
        return
    stack = request.getfixturevalue("stack")
    stack.log_dir = tmp_path
    yield
    stack.stop_workers()
    redis.Redis.from_url(stack.env["CELERY_BROKER_URL"]).flushdb()


def states(stack: ClusterStack, task_ids) -> dict[str, str]:
    """Each task's state, as GET /tasks/<id> gives it."""
    urls = {task_id: stack.url(f"/tasks/{task_id}") for task_id in task_ids}
    return {
        task_id: http_get(url, timeout=15).json()["state"]
        for task_id, url in urls.items()
    }


def wait_for_success(stack: ClusterStack, task_ids, timeout: float) -> float:
    """Poll until every task is SUCCESS; returns the monotonic time it was seen."""
    waiting = set(task_ids)

    def all_done() -> bool:
        for task_id, state in states(stack, waiting).items():
            assert state not in {"FAILURE", "REVOKED"}, (task_id, state)
            if state == "SUCCESS":
                waiting.discard(task_id)
        return not waiting

    wait_until(
        all_done,
        timeout=timeout,
        interval=0.05,
        message=lambda: f"{len(waiting)} tasks never succeeded\n{stack.logs()}",
    )
    return time.monotonic()


def finished(
    stack: ClusterStack, task: str = LONG_TASK
) -> dict[str, collections.Counter]:
    """Per worker: how many times each task id finished (from its log)."""
    pattern = re.compile(rf"{re.escape(task)}\[([^\]]+)\] succeeded")
    return {
        name: collections.Counter(pattern.findall(process.log_text()))
        for name, process in stack.processes.items()
        if name.startswith("worker-")
    }


def query(database: str, sql: str, *params) -> list[dict]:
    with psycopg.connect(postgres_url(database), row_factory=dict_row) as connection:
        return connection.execute(sql, params).fetchall()


def test_each_host_has_a_network_of_its_own(stack, cluster):
    """Processes run in their host's namespace and reach each other by address.

    The web host answers over the bridge; a worker host cannot reach a
    server on the machine's loopback (Redis there would be no broker to it).
    """
    hosts = cluster.hosts
    assert http_get(stack.url("/healthz"), timeout=15).status_code == 200
    own = os.readlink("/proc/self/ns/net")
    web = stack.processes["web"].process.pid
    assert os.readlink(f"/proc/{web}/ns/net") != own
    probe = "import socket; socket.create_connection(('{}', {}), timeout=2)"
    broker = hosts["broker"].address
    for address, port, reachable in [
        (broker, 6379, True),
        ("127.0.0.1", POSTGRES_PORT, False),
    ]:
        completed = subprocess.run(
            hosts["a"].command(["python3", "-c", probe.format(address, port)]),
            capture_output=True,
            timeout=30,
            check=False,
        )
        assert (completed.returncode == 0) == reachable, (address, completed.stderr)


def run_batch(stack: ClusterStack, count: int, seconds: float) -> tuple[float, list]:
    """Start `count` tasks of `seconds` each; seconds until all succeeded."""
    started = time.monotonic()
    task_ids = [start_task(stack, total=1, delay=seconds) for _ in range(count)]
    done = wait_for_success(stack, task_ids, timeout=60 + count * seconds)
    return done - started, task_ids


def test_a_batch_finishes_about_twice_as_fast_on_two_worker_hosts(stack, cluster):
    """Sleeping tasks spread over the worker hosts: each runs once, on either.

    The efficiency T1 / (2 T2) is printed, not asserted (a loaded machine
    makes it vary); the test asserts that both hosts took part and that
    every task succeeded exactly once.
    """
    count, seconds, concurrency = 16, 1.0, "2"
    stack.start_worker_on(cluster.hosts["a"], "--concurrency", concurrency)
    one_host, first = run_batch(stack, count, seconds)
    stack.start_worker_on(cluster.hosts["b"], "--concurrency", concurrency)
    two_hosts, second = run_batch(stack, count, seconds)

    efficiency = one_host / (2 * two_hosts)
    print(
        f"\n{count} tasks of {seconds} s, concurrency {concurrency} per host: "
        f"1 host {one_host:.2f} s, 2 hosts {two_hosts:.2f} s, "
        f"efficiency per host {efficiency:.2f}"
    )
    time.sleep(1)  # a second run, if any, would have been logged by now
    runs = finished(stack)
    total = sum(runs.values(), collections.Counter())
    assert all(total[task_id] == 1 for task_id in first + second), total
    assert set(runs["worker-a"]) >= set(first)
    assert set(second) & set(runs["worker-a"]), "host a took none of the second"
    assert set(second) & set(runs["worker-b"]), "host b took none of the second"


@pytest.fixture(scope="module")
def grace_periods(cookies_session) -> dict[str, float]:
    """Seconds compose gives each service that runs a worker to stop."""
    project = baked(cookies_session, use_docker=True)
    compose = yaml.safe_load((project / "compose.yaml").read_text())
    return {
        name: float(service["stop_grace_period"].removesuffix("s"))
        for name, service in compose["services"].items()
        if " worker " in service.get("command", "")
    }


def test_a_worker_stopped_mid_task_hands_it_to_the_next(
    stack, cluster, smtp, database, grace_periods
):
    """A rolling deploy: SIGTERM (what compose and Kubernetes send) to a
    worker running a long task and a mail; a new worker starts on another host.

    The mail, short, finishes on the old worker, once. The long task is handed
    back within seconds (not after the visibility timeout: an hour here),
    and the new worker runs it to SUCCESS; its job row ends SUCCESS. The old
    worker exits within the grace period compose gives it.
    """
    assert set(grace_periods) == {"worker", "mail-worker"}
    smtp.rcpt_delay = 2  # the mail is still being sent when SIGTERM comes
    try:
        # As the image runs workers (its Dockerfile sets REMAP_SIGTERM).
        old = stack.start_worker_on(
            cluster.hosts["a"], "--concurrency", "2", REMAP_SIGTERM="SIGQUIT"
        )
        long_task_id = start_task(stack, total=100, delay=0.1)
        wait_until(
            lambda: states(stack, [long_task_id])[long_task_id] == "PROGRESS",
            timeout=30,
            message=stack.logs,
        )
        address = new_address()
        assert register(stack, address, browser()).status_code == 200
        wait_until(lambda: address in smtp.rcpt_seen, timeout=30, message=stack.logs)

        old.send_signal(signal.SIGTERM)
        stopped = time.monotonic()
        name, command = stack.worker_command(cluster.hosts["b"], "--concurrency", "2")
        new = stack.start_on(cluster.hosts["b"], name, command)
        wait_until(
            lambda: f"{LONG_TASK}[{long_task_id}] received" in new.log_text(),
            timeout=30,
            message=lambda: f"the long task was never handed back\n{stack.logs()}",
        )
        handed_back = time.monotonic() - stopped
        old.wait(timeout=min(grace_periods.values()))
        exited = time.monotonic() - stopped
        done = wait_for_success(stack, [long_task_id], timeout=45) - stopped
    finally:
        smtp.rcpt_delay = 0
    print(
        f"\nSIGTERM: long task handed back after {handed_back:.1f} s, the old worker "
        f"exited after {exited:.1f} s, the long task succeeded after {done:.1f} s"
    )
    time.sleep(1)
    runs = finished(stack)
    assert (runs["worker-a"][long_task_id], runs["worker-b"][long_task_id]) == (0, 1)
    assert finished(stack, MAIL)["worker-a"] and len(smtp.to(address)) == 1
    assert f"{MAIL}[" not in new.log_text(), "the mail was handed back, not sent"
    [row] = query(database, "SELECT * FROM jobs WHERE id = %s", long_task_id)
    assert (row["state"], row["current"]) == ("SUCCESS", 100)


def long_task_on_one_of_two_hosts(
    stack: ClusterStack, cluster, total: int, **settings: str
) -> tuple[str, str, str]:
    """A worker of one process on hosts a and b, and a long task of `total` steps
    of 0.1 s running on one: (the long task's id, its host, the other host)."""
    hosts = [cluster.hosts["a"], cluster.hosts["b"]]
    stack.start_workers_on(hosts, "--concurrency", "1", **settings)
    long_task_id = start_task(stack, total=total, delay=0.1)
    wait_until(
        lambda: states(stack, [long_task_id])[long_task_id] == "PROGRESS",
        timeout=30,
        message=stack.logs,
    )
    received = f"{LONG_TASK}[{long_task_id}] received"
    [running] = [
        name
        for name in ("a", "b")
        if received in stack.processes[f"worker-{name}"].log_text()
    ]
    return long_task_id, running, "b" if running == "a" else "a"


def test_a_worker_host_cut_off_mid_task(stack, cluster, database):
    """The link of the host running a long task goes down; its worker runs on.

    Redis gives the long task to the other worker once the visibility timeout
    has passed (VISIBILITY here, for the workers; the web host's only
    bounds the long tasks it accepts) and a sweep of the worker finds it
    (kombu sweeps every 10 s), which runs it to SUCCESS. When the link comes back,
    the cut worker's connections resume: the copy it ran on ends, changing
    neither the result nor the job row (both keep their first SUCCESS), and
    the worker takes new work again.
    """
    long_task_id, cut, other = long_task_on_one_of_two_hosts(
        stack, cluster, 30, **VISIBILITY
    )
    received = f"{LONG_TASK}[{long_task_id}] received"

    with link_cut(cluster, cluster.hosts[cut]):
        started = time.monotonic()
        wait_until(
            lambda: received in stack.processes[f"worker-{other}"].log_text(),
            timeout=60,
            message=lambda: (
                "the long task was never given to the other worker\n" + stack.logs()
            ),
        )
        redelivered = time.monotonic() - started
        succeeded = wait_for_success(stack, [long_task_id], timeout=30) - started
        [first] = query(database, "SELECT * FROM jobs WHERE id = %s", long_task_id)
        cut_for = time.monotonic() - started
    mended = time.monotonic()
    wait_until(
        lambda: finished(stack)[f"worker-{cut}"][long_task_id],
        timeout=120,
        message=lambda: f"the cut worker's copy never ended\n{stack.logs()}",
    )
    copy_ended = time.monotonic() - mended
    print(
        f"\nlink cut: long task given to the other worker after {redelivered:.1f} s, "
        f"SUCCESS after {succeeded:.1f} s; link back after {cut_for:.1f} s, "
        f"the cut worker's copy ended {copy_ended:.1f} s later"
    )
    [last] = query(database, "SELECT * FROM jobs WHERE id = %s", long_task_id)
    assert (last["state"], last["current"]) == ("SUCCESS", 30)
    assert last["finished_at"] == first["finished_at"]
    assert states(stack, [long_task_id])[long_task_id] == "SUCCESS"

    stack.processes.pop(f"worker-{other}").stop()
    task_id = start_task(stack, total=1, delay=0)
    wait_for_success(stack, [task_id], timeout=30)
    assert finished(stack)[f"worker-{cut}"][task_id] == 1


def test_mail_arrives_while_every_long_task_host_is_busy(stack, cluster, smtp):
    """Mail has a queue and a worker host of its own: dozens of long tasks waiting
    for the busy long-task worker host do not delay a registration mail.

    Host a serves the default queue only, one process, with 24 long tasks of
    10 s queued in front of it; host b serves `-Q mail`, as compose's
    mail-worker does. The mail goes out within seconds, from host b, which
    never takes a long task.
    """
    long_task_worker = stack.start_worker_on(
        cluster.hosts["a"], "--queues", "celery", "--concurrency", "1"
    )
    mailer = stack.start_worker_on(
        cluster.hosts["b"], "--queues", "mail", "--concurrency", "1"
    )
    long_tasks = [start_task(stack, total=50, delay=0.2) for _ in range(24)]
    wait_until(
        lambda: f"{LONG_TASK}[{long_tasks[0]}] received" in long_task_worker.log_text(),
        timeout=30,
        message=stack.logs,
    )
    address = new_address()
    registered = time.monotonic()
    assert register(stack, address, browser()).status_code == 200
    wait_until(lambda: smtp.to(address), timeout=10, message=stack.logs)
    delivered = time.monotonic() - registered
    print(f"\nmail behind 24 queued long tasks: delivered after {delivered:.1f} s")
    assert f"{MAIL}[" in mailer.log_text()
    assert f"{LONG_TASK}[" not in mailer.log_text()
    # The premise: the long tasks' host was busy, every other long task waiting.
    assert set(states(stack, long_tasks[1:]).values()) == {"PENDING"}


def client(broker_url: str) -> Celery:
    """A Celery app that sends tasks and reads results, as the web tier does."""
    app = Celery("client", broker=broker_url, backend=broker_url, set_as_current=False)
    app.conf.update(
        accept_content=["json"], result_accept_content=["json"], result_expires=600
    )
    return app


def noop_figures(
    direct: Celery, delayed: Celery, queue: str, batch: int, trips: int
) -> tuple[float, float, list[str]]:
    """Tasks/s of `batch` no-op tasks queued at once, the median round trip
    (ms) of one at a time, and the ids of the tasks.

    The batch is sent straight to the broker, so that the sender does not
    limit it; the round trips go over the delayed path, as a web host's would.
    """
    started = time.monotonic()
    results = [direct.send_task(NOOP, (n,), queue=queue) for n in range(batch)]
    assert ResultSet(results).get(timeout=60) == [[n] for n in range(batch)]
    throughput = batch / (time.monotonic() - started)
    latencies, ids = [], [result.id for result in results]
    for n in range(trips):
        sent = time.monotonic()
        result = delayed.send_task(NOOP, (n,), queue=queue)
        assert result.get(timeout=30) == [n]
        latencies.append(time.monotonic() - sent)
        ids.append(result.id)
    return throughput, statistics.median(latencies) * 1000, ids


def noop_runs(stack: ClusterStack) -> collections.Counter:
    """How many times each no-op task finished, on any worker."""
    return sum(finished(stack, NOOP).values(), collections.Counter())


def test_no_op_tasks_over_links_with_latency(stack, cluster):
    """Workers reach the broker over links with LINK_DELAY each way.

    No kernel delay (`tc netem`) is needed: the workers' broker and result
    connections go through a DelayingProxy on the bridge, which holds each
    chunk LINK_DELAY seconds, each way, or passes it at once (delay 0, the
    control). A worker per prefetch multiplier, each on its own host and
    queue, concurrency 2: the project's default (1) and 4. Tasks/s and
    round trips are printed, not asserted; every task succeeds, once.
    """
    batch, trips, concurrency = 100, 15, "2"
    prefetch = {"a": 1, "b": 4}
    direct = urlsplit(stack.env["CELERY_BROKER_URL"])
    with DelayingProxy(
        direct.hostname, direct.port, listen_host=cluster.gateway, delay=0
    ) as link:
        netloc = f":{direct.password}@{cluster.gateway}:{link.port}"
        delayed = direct._replace(netloc=netloc).geturl()
        workers = {}
        for name, multiplier in prefetch.items():
            host = cluster.hosts[name]
            args = ["--concurrency", concurrency, "-Q", f"noop-{name}"]
            args += ["--prefetch-multiplier", str(multiplier)]
            process_name, command = stack.worker_command(host, *args)
            workers[name] = stack.start_on(
                host,
                process_name,
                command,
                CELERY_BROKER_URL=delayed,
                CELERY_RESULT_BACKEND=delayed,
            )
        senders = client(direct.geturl()), client(delayed)
        try:
            for name, worker in workers.items():
                wait_until(
                    lambda worker=worker: " ready." in worker.log_text(),
                    timeout=60,
                    message=lambda name=name: (
                        f"no worker became ready on {name}\n{stack.logs()}"
                    ),
                )
            figures, ids = {}, []
            for delay in (0, LINK_DELAY):
                link.delay = delay
                for name in prefetch:
                    # Every pool process connects to the result store first.
                    noop_figures(*senders, f"noop-{name}", 8, 2)
                    throughput, p50, sent = noop_figures(
                        *senders, f"noop-{name}", batch, trips
                    )
                    figures[delay, prefetch[name]] = throughput, p50
                    ids += sent
            # Each task's success is logged just after its result is stored.
            wait_until(
                lambda: set(ids) <= set(noop_runs(stack)),
                timeout=30,
                message=stack.logs,
            )
            runs = noop_runs(stack)
        finally:
            for name in prefetch:
                stack.processes.pop(f"worker-{name}").stop(grace=1)
            for sender in senders:
                sender.backend.result_consumer.stop()  # its subscription
                sender.close()
    assert all(runs[task_id] == 1 for task_id in ids), runs
    print(
        f"\nno-op tasks, concurrency {concurrency}: {batch} queued at once, "
        f"{trips} round trips one at a time"
    )
    print("link delay each way | prefetch | tasks/s | round trip p50 (ms)")
    for (delay, multiplier), (throughput, p50) in figures.items():
        print(f"{delay * 1000:g} ms | {multiplier} | {throughput:.0f} | {p50:.1f}")
