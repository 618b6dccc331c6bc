"""The migrations build the schema the models describe."""

import os
import subprocess
import sys

from conftest import PROJECT_DIR
from flask_migrate import check
from sqlalchemy import inspect

from app.models import db


def test_migrations_match_the_models(app):
    """`db check` finds nothing to migrate on the migrated test database."""
    with app.app_context():
        check()  # raises when models and migrations disagree
        assert {"users", "jobs", "alembic_version"} <= set(
            inspect(db.engine).get_table_names()
        )


def test_manage_py_db_upgrade_builds_an_empty_database(tmp_path):
    """`python manage.py db upgrade`, then `db check`, on a new SQLite file."""
    env = {
        **os.environ,
        "APP_ENV": "development",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'new.sqlite'}",
    }
    for command in (["db", "upgrade"], ["db", "check"]):
        completed = subprocess.run(
            [sys.executable, "manage.py", *command],
            cwd=PROJECT_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert completed.returncode == 0, completed.stderr
    assert (tmp_path / "new.sqlite").exists()
