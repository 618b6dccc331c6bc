"""Error reports to Sentry: unhandled exceptions of views, failures of tasks.

Off unless SENTRY_DSN is set (then the SDK is imported, not before). No
personal data by default: no cookies, addresses or request bodies
(`send_default_pii=False`). The SDK starts again in each pool process of a
worker: a report sent by the worker's main process before it forked would
leave the children a transport that never sends.
https://docs.sentry.io/platforms/python/integrations/celery/
"""

from typing import Any

from celery.signals import worker_process_init

# The options of this process's Sentry, for its forked pool processes.
STARTED: dict[str, Any] = {}


def sentry_init_app(config: dict[str, Any]) -> None:
    if not config["SENTRY_DSN"]:
        return
    STARTED.update(dsn=config["SENTRY_DSN"], environment=config["ENV_NAME"])
    start_sentry()


def start_sentry() -> None:
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.flask import FlaskIntegration

    sentry_sdk.init(
        **STARTED,
        integrations=[FlaskIntegration(), CeleryIntegration()],
        send_default_pii=False,
    )


@worker_process_init.connect
def start_sentry_in_a_pool_process(**_: Any) -> None:
    if STARTED:
        start_sentry()
