"""Plain Celery on the baked project's settings: what the settings alone cost.

Its tasks run with Celery's own Task class (no app context, no job history,
no delivery count, Celery's own AMQP class) on the settings the project's
worker runs with: app/platform/celery.py's and app/config.py's, as
`celery_settings` merges them. So tuned / plain is the cost of the settings
(one task reserved per process, time limits, two queues, short socket
timeouts) and template / tuned the cost of the project's code.
"""

import os

from app import create_app
from app.platform.celery import celery_settings
from celery import Celery

url = os.environ["BENCH_TUNED_REDIS_URL"]
settings = celery_settings(create_app())
settings.update(broker_url=url, result_backend=url)
celery = Celery("tuned")
celery.config_from_object(settings)
# CELERY_BROKER_URL in the environment would override the broker (as for
# the template's app, app/platform/celery.py).
celery.conf.update(broker_read_url=url, broker_write_url=url)


@celery.task(name="bench.noop")
def noop() -> None:
    """Nothing: what is measured is the machinery around it."""
