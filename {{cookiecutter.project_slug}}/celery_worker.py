"""The worker's entry point, as `wsgi.py` is the web server's.

    celery -A celery_worker.celery worker -l INFO

Add `--pool solo` on Windows. Settings come from the environment (or `.env`):
see `.env.example`.
"""

from app import create_app

app = create_app()
celery = app.extensions["celery"]
