"""The platform: what keeps the app correct and up under load and faults.

Wiring of Celery and the database, error answers, limits, security headers,
mail delivery. Your code (models, forms, views, tasks, templates, and the
services in `app/`) calls into it; you rarely need to change it. Each
module says what it guards against.
"""
