"""Celery, wired to the Flask app: every task runs in its own app context.

`celery_init_app` is Flask's own recipe (the `examples/celery` of Flask's
repository) plus a few lines, each saying why. The settings of this module
are Celery tuning that keeps the promises of the README (fail fast, JSON
only, lose no task); the ones a team edits are in `app/config.py`.
https://flask.palletsprojects.com/en/stable/patterns/celery/
"""

import ssl
from pathlib import Path
from typing import Any

from celery import Celery, Task, states
from celery.exceptions import Ignore, Reject, Retry
from celery.signals import worker_init
from flask import Flask, g
from kombu import Exchange, Queue

from app import history
from app.platform.redis_channel_close import RedisRestartSafeAMQP
{%- if cookiecutter.use_redis_sentinel %}
from app.platform.sentinel import is_sentinel, with_sentinel
{%- endif %}

EMBEDDED_BROKER_URL = "filesystem://"
REDIS_SCHEMES = ("redis://", "rediss://")
AMQP_SCHEMES = ("amqp://", "amqps://", "pyamqp://")

# https://docs.celeryq.dev/en/stable/userguide/configuration.html
PLATFORM_SETTINGS: dict[str, Any] = {
    # JSON only: a worker that accepted pickle would run whatever a message
    # told it to.
    "task_serializer": "json",
    "result_serializer": "json",
    "accept_content": ["json"],
    "result_accept_content": ["json"],
    "timezone": "UTC",
    "enable_utc": True,
    # No STARTED state: a write per task; a long task reports PROGRESS instead.
    "task_track_started": False,
    # A worker started before the broker waits for it instead of exiting.
    "broker_connection_retry_on_startup": True,
    # A broker or result store that is down or hung is an error within
    # seconds (a 503), not a hung request: short socket timeouts, one retry.
    "broker_connection_timeout": 2,
    "broker_transport_options": {
        "socket_timeout": 2,
        "socket_connect_timeout": 2,
        # Redis: look for tasks of dead workers every 10 s (kombu: 100 s).
        "unacked_restore_throttle": 1,
        # RabbitMQ: a 202 only once the broker has stored the task.
        # https://www.rabbitmq.com/docs/confirms#publisher-confirms
        "confirm_publish": True,
    },
    "redis_socket_timeout": 2,
    "redis_socket_connect_timeout": 2,
    "result_backend_transport_options": {"retry_policy": {"timeout": 2.0}},
    "task_publish_retry_policy": {
        "max_retries": 1,
        "interval_start": 0,
        "interval_step": 0.5,
        "interval_max": 0.5,
    },
}

# Worker processes only: a result the store cannot take now (Redis
# restarting) is written again with back-off for about two minutes. Web
# requests must fail fast instead (503).
# https://docs.celeryq.dev/en/stable/userguide/configuration.html#result-backend-always-retry
WORKER_SETTINGS = {
    "result_backend_always_retry": True,
    "result_backend_max_retries": 30,
    "result_backend_base_sleep_between_retries_ms": 100,
    "result_backend_max_sleep_between_retries_ms": 5000,
}

# RabbitMQ: quorum queues, which keep each message on disk (on every node
# of a cluster) and survive a restart; topic exchanges, through which
# RabbitMQ delays a countdown (a mail's retry) on quorum queues. A broker
# holding classic queues of these names refuses them: use a new vhost.
# https://docs.celeryq.dev/en/stable/getting-started/backends-and-brokers/rabbitmq.html#using-quorum-queues
RABBITMQ_SETTINGS = {
    "task_default_queue_type": "quorum",
    "task_create_missing_queue_type": "quorum",
    "task_default_exchange_type": "topic",
    "task_create_missing_queue_exchange_type": "topic",
}

# RabbitMQ takes a message back from a consumer that holds it longer than
# its consumer_timeout (30 minutes unless rabbitmq.conf says otherwise).
# https://www.rabbitmq.com/docs/consumers#acknowledgement-timeout
RABBITMQ_CONSUMER_TIMEOUT = 30 * 60


class DeliveryLimitExceeded(Exception):
    """A task was handed to workers more often than `TASK_DELIVERY_LIMIT`."""


class FlaskTask(Task):
    """The class of every task of the app.

    A task runs inside the Flask app's context (`current_app`, `db.session`
    work on every pool), with `g.task_time_limit` for the database's
    timeouts (app/platform/database.py). A task started as a job records
    its final state in the job's row, before the result store has it, so
    whoever reads the final state finds the row final too. And a task that
    keeps coming back (each try kills its worker process: out of memory, a
    crash) fails after `TASK_DELIVERY_LIMIT` deliveries instead of looping.
    """

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with self.app.flask_app.app_context():
            g.task_time_limit = self.hard_time_limit()
            job = self.request.get(history.JOB_HEADER)
            try:
                self.refuse_past_delivery_limit()
                result = self.run(*args, **kwargs)
            except (Ignore, Reject, Retry):
                raise  # not an end: the task ends elsewhere, or later
            except Exception:
                if job:
                    history.record_end(self.request.id, states.FAILURE)
                raise
            if job:
                history.record_end(self.request.id, states.SUCCESS)
            return result

    def hard_time_limit(self) -> float | None:
        """Seconds this run may take: its own limit, the task's, or the app's."""
        hard, _ = self.request.timelimit or (None, None)
        return hard or self.time_limit or self.app.conf.task_time_limit

    def refuse_past_delivery_limit(self) -> None:
        """Count this delivery if it is a redelivery; fail past the limit.

        Neither broker counts deliveries for Celery, so the count is kept
        beside the task's result; only redeliveries pay for it.
        """
        if not (self.request.delivery_info or {}).get("redelivered"):
            return
        limit = self.app.flask_app.config["TASK_DELIVERY_LIMIT"]
        key = self.backend.get_key_for_task(self.request.id, key=":deliveries")
        deliveries = int(self.backend.get(key) or 1) + 1
        self.backend.set(key, deliveries)
        if deliveries > limit:
            raise DeliveryLimitExceeded(
                f"delivered {deliveries} times (TASK_DELIVERY_LIMIT={limit}): "
                "each try ended its worker process"
            )


def celery_init_app(app: Flask) -> Celery:
    """Create the Celery app for `app` (kept in `app.extensions["celery"]`)."""
    settings = celery_settings(app)
    # The worker's Redis channel survives a Redis restart (the module says how).
    celery = Celery(app.name, task_cls=FlaskTask, amqp=RedisRestartSafeAMQP)
    celery.config_from_object(settings)
    # Celery lets CELERY_BROKER_URL and CELERY_RESULT_BACKEND in the
    # environment override its config; app/config.py has read them already,
    # and the Flask config must stay the one source (tests pin their own).
    celery.conf.update(
        broker_read_url=settings["broker_url"],
        broker_write_url=settings["broker_url"],
    )
    celery.backend_cls = settings["result_backend"]
    # How tasks and the worker's signal receivers find the Flask app.
    celery.flask_app = app
    celery.set_default()
    app.extensions["celery"] = celery
    return celery


@worker_init.connect
def use_worker_settings(sender: Any, **_: Any) -> None:
    """Settings for worker processes only (WORKER_SETTINGS above)."""
    sender.app.conf.update(WORKER_SETTINGS)


def celery_settings(app: Flask) -> dict[str, Any]:
    """Celery's settings: the platform's, then the app's, the broker's own."""
    config = app.config
    broker_url = config["CELERY_BROKER_URL"]
    results_url = config["CELERY_RESULT_BACKEND"] or broker_url
    settings = merged(PLATFORM_SETTINGS, config["CELERY"])
    settings.update(broker_url=broker_url, result_backend=results_url)
    settings["broker_transport_options"].setdefault(
        "visibility_timeout", config["CELERY_VISIBILITY_TIMEOUT"]
    )
    if broker_url.startswith(AMQP_SCHEMES):
        settings.update(RABBITMQ_SETTINGS)
    # A task still running when the broker connection drops: RabbitMQ hands
    # it to another worker at once, so the copy here is stopped; Redis keeps
    # it until the visibility timeout, so here it runs on through the outage.
    settings.setdefault(
        "worker_cancel_long_running_tasks_on_connection_loss",
        broker_url.startswith(AMQP_SCHEMES),
    )
    settings["task_queues"] = declared_queues(settings)
    if broker_url == EMBEDDED_BROKER_URL:
        settings.update(embedded_settings(Path(app.instance_path) / "celery"))
    # kombu turns certificate checks off for a bare rediss:// URL, and
    # Celery's result store refuses one: both verify the server's
    # certificate unless the URL says otherwise (?ssl_cert_reqs=...).
    verify = {"ssl_cert_reqs": ssl.CERT_REQUIRED}
    if says_nothing_of_certificates(broker_url):
        settings.setdefault("broker_use_ssl", verify)
    if says_nothing_of_certificates(results_url):
        settings.setdefault("redis_backend_use_ssl", verify)
{%- if cookiecutter.use_redis_sentinel %}
    for url, options in [
        (broker_url, "broker_transport_options"),
        (results_url, "result_backend_transport_options"),
    ]:
        if is_sentinel(url):
            settings[options] = with_sentinel(
                settings[options],
                config["CELERY_SENTINEL_MASTER"],
                redis_timeouts(settings),
            )
{%- endif %}
    return settings


def merged(defaults: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """`defaults` updated with `overrides`; their transport options merged too."""
    settings = {**defaults, **overrides}
    for name in ("broker_transport_options", "result_backend_transport_options"):
        settings[name] = {**defaults.get(name, {}), **overrides.get(name, {})}
    return settings


def declared_queues(settings: dict[str, Any]) -> list[Queue]:
    """The default queue and every queue a route names, declared, so that a
    worker started without -Q consumes from all of them."""
    names = [settings["task_default_queue"]]
    names += [route["queue"] for route in settings["task_routes"].values()]
    exchange_type = settings.get("task_default_exchange_type", "direct")
    arguments = None
    if settings.get("task_default_queue_type") == "quorum":
        arguments = {"x-queue-type": "quorum"}
    return [
        Queue(
            name,
            Exchange(name, type=exchange_type),
            routing_key=name,
            queue_arguments=arguments,
        )
        for name in dict.fromkeys(names)
    ]


def redis_timeouts(settings: dict[str, Any]) -> dict[str, float]:
    """The socket time-outs of Celery's settings, as redis-py takes them."""
    return {
        "socket_timeout": settings["redis_socket_timeout"],
        "socket_connect_timeout": settings["redis_socket_connect_timeout"],
    }


def says_nothing_of_certificates(url: str) -> bool:
    return url.startswith("rediss://") and "ssl_cert_reqs" not in url


def redelivery_limit(config: dict[str, Any]) -> float | None:
    """Seconds a task may hold its message before the broker hands it to
    another worker: Redis's visibility timeout, RabbitMQ's consumer timeout."""
    broker_url = config["CELERY_BROKER_URL"]
    if broker_url.startswith(REDIS_SCHEMES) or broker_url.startswith("sentinel://"):
        return config["CELERY_VISIBILITY_TIMEOUT"]
    if broker_url.startswith(AMQP_SCHEMES):
        return RABBITMQ_CONSUMER_TIMEOUT
    return None


def embedded_settings(folder: Path) -> dict[str, Any]:
    """Queue and results as files in `folder`, shared by web and worker.

    Kombu's filesystem transport and Celery's file result store need nothing
    but the standard library, lock their files, so one web and one worker
    process can share them, and support broadcast (remote control). Good for
    development, not for production: use Redis or RabbitMQ there.
    """
    queue, results = folder / "queue", folder / "results"
    queue.mkdir(parents=True, exist_ok=True)
    results.mkdir(parents=True, exist_ok=True)
    return {
        "broker_transport_options": {
            "data_folder_in": str(queue),
            "data_folder_out": str(queue),
            "control_folder": str(folder / "control"),
            # Seconds between looks at the folder when it is empty.
            "polling_interval": 0.1,
        },
        "result_backend": results.as_uri(),
    }
