"""The baked project's Celery app, as its worker runs it, plus benchmark tasks.

The tasks are declared on the app itself, so they get everything the project
gives its own tasks: its Task class (an app context per task) and its config.
"""

import time

from app import create_app

app = create_app()
celery = app.extensions["celery"]


@celery.task(name="bench.noop")
def noop() -> None:
    """Nothing: what is measured is the machinery around it."""


@celery.task(name="bench.quiet_long_task")
def quiet_long_task(total: int, delay: float) -> dict[str, int]:
    """The demo long task's loop without progress reports or cancel checks."""
    for _ in range(total):
        time.sleep(delay)
    return {"current": total, "total": total}
