"""Alembic's entry point, run by `python manage.py db ...` inside the app.

The database and the models' metadata come from the app's Flask-SQLAlchemy
extension, so migrations always run against the app's own DATABASE_URL.
"""

import logging
from logging.config import fileConfig

from alembic import context
from flask import current_app

config = context.config
# Alembic's log lines, without silencing the app's own loggers.
fileConfig(config.config_file_name, disable_existing_loggers=False)
logger = logging.getLogger("alembic.env")

migrate = current_app.extensions["migrate"]
engine = migrate.db.engine
target_metadata = migrate.db.metadata


def skip_empty_autogenerate(context, revision, directives) -> None:
    """`db migrate` with no model change writes no empty migration."""
    if getattr(config.cmd_opts, "autogenerate", False):
        script = directives[0]
        if script.upgrade_ops.is_empty():
            directives[:] = []
            logger.info("No changes in schema detected.")


def run_migrations_offline() -> None:
    """`db upgrade --sql`: print the SQL instead of running it."""
    url = engine.url.render_as_string(hide_password=False)
    context.configure(url=url, target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    options = dict(migrate.configure_args)
    options.setdefault("process_revision_directives", skip_empty_autogenerate)
    with engine.connect() as connection:
        context.configure(
            connection=connection, target_metadata=target_metadata, **options
        )
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
