"""The Celery app, configured from the Flask app that owns it."""

import ssl
from pathlib import Path
from typing import Any

from celery import Celery, Task
from celery.signals import worker_init, worker_ready
from flask import Flask
from kombu import Exchange, Queue

from app.config import is_sentinel
from app.platform.celery_redis import Messaging
from app.platform.worker_shutdown import stop_softly_on_sigterm

EMBEDDED_BROKER_URL = "filesystem://"
# RabbitMQ: quorum queues, which keep each message on disk (and on every
# node of a cluster) and survive a broker restart, the queue type RabbitMQ
# recommends. Topic exchanges, because on quorum queues Celery delays a
# countdown (a mail's retry) in the broker, and routes it back through one.
# A broker that already has classic queues of these names refuses them:
# delete those queues, or use a new virtual host.
# https://docs.celeryq.dev/en/stable/getting-started/backends-and-brokers/rabbitmq.html#using-quorum-queues
RABBITMQ_QUEUES = {
    "task_default_queue_type": "quorum",
    "task_create_missing_queue_type": "quorum",
    "task_default_exchange_type": "topic",
    "task_create_missing_queue_exchange_type": "topic",
}
REDIS_SCHEMES = ("redis://", "rediss://")
AMQP_SCHEMES = ("amqp://", "amqps://", "pyamqp://")


def celery_init_app(app: Flask) -> Celery:
    """Create the Celery app for `app`; every task runs in its own app context.

    A context per task (not one pushed at import) keeps `current_app` working
    on every pool: prefork, threads, solo and gevent.
    """

    class FlaskTask(Task):
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            with app.app_context():
                return self.run(*args, **kwargs)

    settings = celery_settings(app)
    # Celery's messaging, minus a cost per task on Redis (app/platform/celery_redis.py).
    celery = Celery(app.name, task_cls=FlaskTask, amqp=Messaging)
    celery.config_from_object(settings)
    # Celery itself lets CELERY_BROKER_URL and CELERY_RESULT_BACKEND in the
    # environment override its config. app/config.py reads them already;
    # pinning the result here keeps the Flask config the only source (so the
    # testing config's in-memory broker holds even where they are set).
    celery.conf.update(
        broker_read_url=settings["broker_url"],
        broker_write_url=settings["broker_url"],
    )
    celery.backend_cls = settings["result_backend"]
    celery.set_default()
    app.extensions["celery"] = celery

    @worker_init.connect(weak=False)
    def use_worker_settings(**_: Any) -> None:
        """Settings for worker processes only (CELERY_WORKER in app/config.py)."""
        celery.conf.update(app.config["CELERY_WORKER"])

    # SIGTERM, as compose and Kubernetes send it, stops a worker softly.
    worker_ready.connect(stop_softly_on_sigterm)

    return celery


def celery_settings(app: Flask) -> dict[str, Any]:
    """Celery's settings from the Flask config, with the broker resolved."""
    broker_url = app.config["CELERY_BROKER_URL"]
    results_url = app.config["CELERY_RESULT_BACKEND"] or broker_url
    result_backend = results_url
    # On Redis, Celery's result store minus a cost per task (same module).
    if result_backend.startswith(REDIS_SCHEMES):
        result_backend = (
            f"app.platform.celery_redis:PolledRedisBackend+{result_backend}"
        )
    elif is_sentinel(result_backend):
        result_backend = (
            f"app.platform.celery_redis:PolledSentinelBackend+{result_backend}"
        )
    settings = {
        **app.config["CELERY"],
        "broker_url": broker_url,
        "result_backend": result_backend,
    }
    if broker_url.startswith(AMQP_SCHEMES):
        settings.update(RABBITMQ_QUEUES)
    settings["task_queues"] = declared_queues(settings)
    master = app.config["CELERY_SENTINEL_MASTER"]
    for url, options in [
        (broker_url, "broker_transport_options"),
        (results_url, "result_backend_transport_options"),
    ]:
        if is_sentinel(url):
            settings[options] = with_sentinel(settings, settings[options], master)
    # Tasks acknowledged late, still running when the broker connection
    # drops: RabbitMQ hands them to another worker at once, so the copies
    # here are stopped (they run again from the start); Redis keeps them
    # until the visibility timeout, so here they run on through the blip
    # and are acknowledged, once, when it is back.
    settings.setdefault(
        "worker_cancel_long_running_tasks_on_connection_loss",
        broker_url.startswith(AMQP_SCHEMES),
    )
    if broker_url == EMBEDDED_BROKER_URL:
        settings.update(embedded_settings(Path(app.instance_path) / "celery"))
    # kombu turns certificate checks off for a bare rediss:// URL, and
    # Celery's result store refuses one: both verify the server's
    # certificate, unless the URL says otherwise (?ssl_cert_reqs=...).
    verify = {"ssl_cert_reqs": ssl.CERT_REQUIRED}
    if says_nothing_of_certificates(broker_url):
        settings.setdefault("broker_use_ssl", verify)
    if says_nothing_of_certificates(results_url):
        settings.setdefault("redis_backend_use_ssl", verify)
    return settings


def declared_queues(settings: dict[str, Any]) -> list[Queue]:
    """The default queue and every queue a route names, as Celery declares them.

    Declared, so that a worker started without -Q consumes from all of them.
    """
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


def with_sentinel(
    settings: dict[str, Any], options: dict[str, Any], master: str
) -> dict[str, Any]:
    """Transport `options` plus what a `sentinel://` URL needs.

    Kombu and Celery ask the Sentinels for the master named `master` and
    follow it when it fails over. Calls to the Sentinels time out as calls
    to Redis do (Celery's result store sets no timeout for them).
    """
    return {
        **options,
        "master_name": master,
        "sentinel_kwargs": sentinel_kwargs(settings),
    }


def redis_timeouts(settings: dict[str, Any]) -> dict[str, float]:
    """The socket time-outs of the CELERY settings, as redis-py takes them."""
    return {
        "socket_timeout": settings["redis_socket_timeout"],
        "socket_connect_timeout": settings["redis_socket_connect_timeout"],
    }


def sentinel_kwargs(settings: dict[str, Any]) -> dict[str, Any]:
    """How to call one Sentinel: time-outs as for Redis, and no retries.

    redis-py 6+ retries a call three times with back-off (12 to 15 s with
    2 s time-outs, measured) before it asks the next Sentinel in the list:
    one Sentinel on a host cut off from the network would hold every request
    that looks for the master longer than a 503 may take. `retry=None`
    makes it ask the next one at once.
    """
    return {**redis_timeouts(settings), "retry": None}


def says_nothing_of_certificates(url: str) -> bool:
    return url.startswith("rediss://") and "ssl_cert_reqs" not in url


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
