"""The worker's entry point, as `wsgi.py` is the web server's.

    celery -A celery_worker.celery worker -l INFO

Add `--pool solo` on Windows. Settings come from the environment (or `.env`):
see `.env.example`.
"""

from app import create_app
from app.config import ConfigurationError

try:
    app = create_app()
except ConfigurationError as error:
    # One line naming the setting, not a traceback.
    raise SystemExit(f"Configuration error: {error}") from None
celery = app.extensions["celery"]
