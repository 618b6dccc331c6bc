"""Bakes pass their own test suites against real servers.

The default bake runs its whole suite on SQLite, as a new user would, on the
lowest and the highest supported Python (tests/test_python_versions.py).
Here the RabbitMQ bake with every option on runs its whole suite on a
PostgreSQL database of its own (`TEST_DATABASE_URL`), and the Redis bake
with every option on the tests its options bring (beat, Flower).
"""

import pytest
from support import baked, fresh_database, postgres_url, run_project_tests

pytestmark = pytest.mark.e2e

# The optional parts bring their own tests (beat, Flower): run them too.
EVERY_OPTION = {"use_celery_beat": True, "use_flower": True, "use_docker": True}


def test_without_redis_the_live_tests_are_skipped_saying_why(cookies, project_venv):
    """No redis-server on PATH, not CI: the rest passes, live tests say why."""
    project = baked(cookies)
    completed = run_project_tests(
        project,
        project_venv,
        "-rs",
        # Unit and live tests side by side; the whole suite runs elsewhere.
        "tests/test_tasks_api.py",
        env={"PATH": str(project_venv.path / "bin"), "CI": ""},
    )
    assert "live test: no broker" in completed.stdout
    assert " skipped" in completed.stdout
    assert " failed" not in completed.stdout


def test_redis_bake_passes_the_tests_its_options_bring(cookies, project_venv):
    """Beat runs a periodic task; Flower sees the worker, behind a login."""
    project = baked(cookies, **EVERY_OPTION)
    run_project_tests(
        project, project_venv, "tests/test_periodic.py", "tests/test_flower.py"
    )


def test_rabbitmq_bake_passes_its_own_tests_on_rabbitmq(
    cookies, project_venv, rabbitmq_url, redis_server
):
    """RabbitMQ carries the tasks, Redis keeps the results; every option on,
    on PostgreSQL."""
    project = baked(cookies, broker="rabbitmq", **EVERY_OPTION)
    with fresh_database() as database:
        run_project_tests(
            project,
            project_venv,
            env={
                "CELERY_BROKER_URL": rabbitmq_url,
                "CELERY_RESULT_BACKEND": redis_server,
                "TEST_DATABASE_URL": postgres_url(database),
            },
        )
