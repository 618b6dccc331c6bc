"""The migrations build the schema the models describe."""

import os
import re
import shutil
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
    for command in (["upgrade"], ["check"]):
        completed = manage_db(*command, env=env)
        assert completed.returncode == 0, completed.stderr
    assert (tmp_path / "new.sqlite").exists()


A_SLOW_MIGRATION = '''"""A test's migration, slow as a big table's new index."""

import sqlalchemy as sa
from alembic import op

revision = "9999"
down_revision = "{head}"


def upgrade() -> None:
    timeout = op.get_bind().execute(sa.text("SHOW statement_timeout")).scalar()
    assert timeout == "0", "migrations run with statement_timeout=" + timeout
    op.execute("SELECT pg_sleep(6)")  # longer than a web request may take


def downgrade() -> None:
    pass
'''


def test_migrations_run_with_no_statement_timeout(
    on_postgresql, database_url, tmp_path
):
    """`manage.py db upgrade` never meets the web tier's 5 s statement timeout."""
    migrations = tmp_path / "migrations"
    shutil.copytree(PROJECT_DIR / "migrations", migrations)
    versions = sorted((migrations / "versions").glob("*.py"))
    head = re.search(r'^revision = "(\w+)"', versions[-1].read_text(), re.M)[1]
    slow = A_SLOW_MIGRATION.format(head=head)
    (migrations / "versions" / "99999999_9999_slow.py").write_text(slow)
    env = {**os.environ, "APP_ENV": "development", "DATABASE_URL": database_url}
    for command in (["upgrade"], ["downgrade", head]):
        completed = manage_db(*command, "--directory", str(migrations), env=env)
        assert completed.returncode == 0, completed.stderr[-3000:]


def manage_db(*arguments: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """`python manage.py db ARGUMENTS` in the project, its output kept."""
    return subprocess.run(
        [sys.executable, "manage.py", "db", *arguments],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
