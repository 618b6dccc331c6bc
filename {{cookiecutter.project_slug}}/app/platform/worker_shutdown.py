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
is loaded). Passing SIGTERM on as SIGQUIT once the worker is ready (from
its event loop: `SigtermRelay`) does the same, so `celery -A
celery_worker.celery worker` and `python manage.py worker` stop so wherever
they run, whatever their environment. A second SIGTERM, like a second
SIGQUIT, stops the running tasks without waiting; a third ends the worker
at once.
https://docs.celeryq.dev/en/stable/userguide/workers.html#worker-soft-shutdown
"""

import os
import signal
from typing import Any

from celery.concurrency.prefork import TaskPool as PreforkPool

# Seconds between two looks of the worker's event loop for a SIGTERM.
SIGTERM_CHECK_INTERVAL = 0.5


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
        relay = SigtermRelay(deferred=sender.hub is not None)
        signal.signal(signal.SIGTERM, relay.on_sigterm)
        if relay.deferred:
            sender.hub.call_repeatedly(SIGTERM_CHECK_INTERVAL, relay.pass_on)


class SigtermRelay:
    """Passes SIGTERM on as SIGQUIT from the event loop, not from the handler.

    Celery runs its whole shutdown inside the SIGQUIT handler: it waits for
    the running tasks, cancels them and hands their messages back to Redis.
    A signal handler runs wherever the main thread happened to be, possibly
    inside a Redis client call holding its connection pool's lock, and the
    shutdown's own Redis calls would then wait for that lock for ever (a
    worker seen to outlive SIGTERM after "Initiating Soft Shutdown"). So
    the handler only takes note, and the event loop, between two of its
    callbacks, sends the SIGQUIT whose handler then runs with no lock held.
    Signals after the first go on at once: they ask for a harder stop. A
    worker without an event loop (`deferred` false) passes each on at once.
    """

    def __init__(self, deferred: bool) -> None:
        self.deferred = deferred
        self.received = self.passed_on = 0

    def on_sigterm(self, signum: int, frame: object) -> None:
        self.received += 1
        if not self.deferred or self.passed_on:
            self.pass_on()

    def pass_on(self) -> None:
        """Send one SIGQUIT for each SIGTERM received and not yet passed on."""
        while self.passed_on < self.received:
            self.passed_on += 1
            os.kill(os.getpid(), signal.SIGQUIT)
