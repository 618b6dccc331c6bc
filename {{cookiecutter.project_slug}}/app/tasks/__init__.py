"""Background work. Each module holds tasks for one job.

Tasks are declared with `@shared_task`, so these modules never import the
Flask app: the Celery app is the one `create_app()` builds, and each task
runs inside that app's context (see app/platform/celery.py).
"""
