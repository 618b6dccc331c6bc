"""The RabbitMQ bake as a cluster: its broker on a host of its own.

A RabbitMQ node of the test's own runs on the broker host (in its namespace,
tests/rabbitmq.py), beside the Redis that keeps results; gunicorn runs on
the web host, `celery worker` on two worker hosts, all over their links.
What differs from Redis is how a host that falls silent is noticed:
RabbitMQ gives a worker's unacknowledged task to another worker when that
worker's connection closes, and a link that is cut closes nothing. The
broker closes it once the connection's heartbeats have stopped for a while,
which depends on the negotiated heartbeat: the lower of the broker's
`heartbeat` (60 s by default) and Celery's `broker_heartbeat` (120 s). The
node here is set to HEARTBEAT seconds, as an operator sets it for a faster
hand-over; the test prints how long the hand-over took.
"""

import time

import pytest
from cluster import link_cut, running_on
from rabbitmq import PrivateRabbitMQ
from stack import start_task
from support import (
    baked,
    wait_until,
)
from test_e2e_cluster import (
    LONG_TASK,
    finished,
    long_task_on_one_of_two_hosts,
    query,
    states,
    wait_for_success,
)

pytestmark = pytest.mark.e2e

# The broker's heartbeat timeout, in seconds (RabbitMQ's rabbitmq.conf).
HEARTBEAT = 5


@pytest.fixture(scope="module")
def rabbitmq(cluster):
    """A RabbitMQ node of the test's own on the broker host."""
    broker = cluster.hosts["broker"]
    node = PrivateRabbitMQ(
        address=broker.address,
        prefix=broker.command([]),
        settings=[f"heartbeat = {HEARTBEAT}"],
    )
    try:
        yield node.start()
    finally:
        node.stop()


@pytest.fixture(scope="module")
def stack(cookies_session, project_venv, cluster, rabbitmq, database, tmp_path_factory):
    """The RabbitMQ bake in production: the broker and its results' Redis on
    the broker host, gunicorn on the web host; no worker yet."""
    logs = tmp_path_factory.mktemp("cluster-rabbitmq")
    with running_on(
        cluster,
        baked(cookies_session, broker="rabbitmq"),
        project_venv,
        database,
        logs,
        CELERY_BROKER_URL=rabbitmq.url,
        CELERY_RESULT_BACKEND=cluster.start_redis(cluster.hosts["broker"], logs),
    ) as running:
        yield running


@pytest.fixture(autouse=True)
def no_worker_left(stack):
    """Each test starts its own workers; they stop after it."""
    yield
    stack.stop_workers()


def test_a_worker_host_cut_off_mid_task_on_rabbitmq(stack, cluster, database):
    """The link of the host running a long task goes down; its worker runs on.

    RabbitMQ closes the silent worker's connection once its heartbeats
    stop and gives the long task to the other worker, which runs it to SUCCESS,
    once. The cut worker notices nothing while cut (its copy stalls on
    writes that fail); when the link comes back, the broker's reset of the
    closed connection tells it, and it stops its copy before the end
    (`worker_cancel_long_running_tasks_on_connection_loss`, on for RabbitMQ
    in app/platform/celery.py), reconnects and takes new work. The job row keeps
    its one SUCCESS.
    """
    long_task_id, cut, other = long_task_on_one_of_two_hosts(stack, cluster, 100)
    received = f"{LONG_TASK}[{long_task_id}] received"

    with link_cut(cluster, cluster.hosts[cut]):
        started = time.monotonic()
        wait_until(
            lambda: received in stack.processes[f"worker-{other}"].log_text(),
            timeout=HEARTBEAT * 6,
            message=lambda: (
                "the long task was never given to the other worker\n" + stack.logs()
            ),
        )
        redelivered = time.monotonic() - started
        succeeded = wait_for_success(stack, [long_task_id], timeout=60) - started
        [first] = query(database, "SELECT * FROM jobs WHERE id = %s", long_task_id)
    print(
        f"\nRabbitMQ, link cut (broker heartbeat {HEARTBEAT} s): long task given to "
        f"the other worker after {redelivered:.1f} s, SUCCESS after {succeeded:.1f} s"
    )
    assert (first["state"], first["current"]) == ("SUCCESS", 100)

    # Back on the network, the cut worker reconnects and takes new work.
    stack.processes.pop(f"worker-{other}").stop()
    task_id = start_task(stack, total=1, delay=0)
    wait_for_success(stack, [task_id], timeout=HEARTBEAT * 6)
    runs = finished(stack)
    assert runs[f"worker-{cut}"][task_id] == 1
    assert runs[f"worker-{cut}"][long_task_id] == 0, "the cut copy ran to its end"
    [last] = query(database, "SELECT * FROM jobs WHERE id = %s", long_task_id)
    assert last["finished_at"] == first["finished_at"]
    assert states(stack, [long_task_id])[long_task_id] == "SUCCESS"


def test_an_accepted_task_survives_a_restart_of_the_broker_host(
    stack, cluster, rabbitmq
):
    """Accepted while no worker runs (confirmed by the broker before the 202),
    the broker restarted, then a worker on another host runs it."""
    task_id = start_task(stack, total=2, delay=0)
    queues = rabbitmq.ctl("list_queues", "name", "type").split("\n")
    assert "celery\tquorum" in queues
    rabbitmq.restart()
    stack.start_worker_on(cluster.hosts["a"], "--concurrency", "1")
    wait_for_success(stack, [task_id], timeout=60)
