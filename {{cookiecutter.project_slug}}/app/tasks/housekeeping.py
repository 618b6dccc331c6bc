"""Housekeeping of the job history (`python manage.py jobs tidy` does the same)."""

import logging

from celery import Task, shared_task

from app.history import tidy

logger = logging.getLogger(__name__)


@shared_task(bind=True, ignore_result=True)
def tidy_job_history(self: Task) -> None:
    """Prune expired jobs; end those whose final write was lost."""
    ended, pruned = tidy(self.backend)
    logger.info("Job history: %d rows ended, %d pruned.", ended, pruned)
