"""A plain Celery app with default settings: the yardstick."""

import os

from celery import Celery

url = os.environ["BENCH_REDIS_URL"]
celery = Celery("plain", broker=url, backend=url)


@celery.task(name="bench.noop")
def noop() -> None:
    """Nothing: what is measured is the machinery around it."""
