"""Background work. Each module holds the tasks of one concern.

Declare tasks with `@shared_task`, so that these modules never import the
Flask app: the Celery app is the one `create_app()` builds, and each task
runs inside that app's context, with its job's history kept (see
app/platform/celery.py). List a new module in `CELERY["imports"]` in
app/config.py, so that every worker knows its tasks.
"""
