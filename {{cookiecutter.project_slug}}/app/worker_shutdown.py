"""SIGTERM stops a worker softly: short tasks end, long ones go to another worker.

Compose, Kubernetes and systemd stop a process with SIGTERM. Celery's own
answer to it is a warm shutdown: the worker waits for its running tasks to
end, however long they take, until the grace period of the process manager
runs out and SIGKILL cuts the walk short; Redis then gives it to another
worker only once the visibility timeout has passed (an hour by default).

Its answer to SIGQUIT is a cold shutdown preceded by a soft one (Celery
5.5+): running tasks get `worker_soft_shutdown_timeout` seconds (set in
app/config.py, CELERY_WORKER), then those still running are stopped and
handed back to the broker, not acknowledged (they are acknowledged late),
so that another worker starts them over at once; then the worker exits.

Celery gives SIGTERM that meaning only if `REMAP_SIGTERM=SIGQUIT` is in the
environment before it starts (billiard reads it on import, before the app
is loaded). Passing SIGTERM on as SIGQUIT once the worker is ready does the
same, so `celery -A celery_worker.celery worker` and `python manage.py
worker` stop so wherever they run, whatever their environment. A second
SIGTERM, like a second SIGQUIT, stops the running tasks without waiting; a
third ends the worker at once.
https://docs.celeryq.dev/en/stable/userguide/workers.html#worker-soft-shutdown
"""

import os
import signal
from typing import Any

from celery.concurrency.prefork import TaskPool as PreforkPool


def stop_softly_on_sigterm(sender: Any, **_: Any) -> None:
    """Handle SIGTERM as SIGQUIT in this worker (connected to `worker_ready`).

    Prefork workers on Redis only. Celery's cold shutdown stops a running
    task by killing its pool process, which the other pools cannot do
    (threads and solo have no way to; gevent cannot run the shutdown from
    its event loop): a stop with work running would fail the task or crash
    the worker. RabbitMQ needs none of it: when the process manager's
    SIGKILL closes the connection, it hands the task to another worker at
    once (and a cold shutdown can hang in the middle of an AMQP read). Both
    keep Celery's warm shutdown, which waits for the task.

    Only the worker's main process is concerned: under systemd, set
    `KillMode=mixed` so that SIGTERM reaches it alone, not its pool processes.
    """
    on_redis = sender.connection.transport.driver_type == "redis"
    if on_redis and isinstance(sender.pool, PreforkPool):
        signal.signal(signal.SIGTERM, pass_on_as_sigquit)


def pass_on_as_sigquit(signum: int, frame: object) -> None:
    os.kill(os.getpid(), signal.SIGQUIT)
