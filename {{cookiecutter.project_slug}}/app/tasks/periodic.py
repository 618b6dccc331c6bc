"""Periodic tasks, sent on schedule by Celery beat (`python manage.py beat`).

The schedule lives in `CELERY["beat_schedule"]` in app/config.py.
"""

import logging

from celery import shared_task
from flask import current_app

logger = logging.getLogger(__name__)


@shared_task
def heartbeat() -> str:
    """Log that beat and a worker are alive; replace with real periodic work."""
    message = f"{current_app.config['PROJECT_NAME']} heartbeat"
    logger.info(message)
    return message
