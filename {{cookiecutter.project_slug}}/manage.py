"""The project's command line: `python manage.py --help` lists the commands.

Flask's own commands (`run`, `shell`, `routes`) come with it.
"""

import os
import sys
from pathlib import Path

import click
from email_validator import EmailNotValidError, validate_email
from flask import Flask, current_app
from flask.cli import FlaskGroup
from flask_migrate import upgrade

from app import create_app, history
from app.config import ConfigurationError
from app.platform.devserver import run_together
from app.platform.logs import configure_logging
from app.platform.tracing import start_tracing
from app.tasks.email import send_test_email

PROJECT_DIR = Path(__file__).resolve().parent


def load_app() -> Flask:
    """The app for APP_ENV; a bad setting is one line naming it, no traceback.

    It stops the command there: Flask would carry on without the app and
    call its commands (`db`) unknown.
    """
    configure_logging()
    start_tracing("{{ cookiecutter.project_slug }}-cli")
    try:
        return create_app()
    except ConfigurationError as error:
        click.echo(f"Error: {error}", err=True)
        sys.exit(2)


@click.group(cls=FlaskGroup, create_app=load_app)
def cli() -> None:
    """Manage {{ cookiecutter.project_slug }}: run it, migrate it, test the mail.

    `db` holds Flask-Migrate's commands: `db upgrade` creates or updates the
    schema, `db migrate` writes a migration after a model changed, `db check`
    tells whether the models and the migrations agree.
    """


@cli.command(with_appcontext=False)
@click.option("--port", default=5000, show_default=True, help="Port of the web server.")
def dev(port: int) -> None:
    """Migrate the database, then run the web server and a worker together.

    Ctrl-C stops both.
    """
    with load_app().app_context():
        upgrade()
    manage = [sys.executable, __file__]
    sys.exit(
        run_together(
            {
                "web": [*manage, "run", "--debug", "--port", str(port)],
                "worker": [*manage, "worker", "--concurrency", "2"],
            },
            banner=f"Open http://127.0.0.1:{port}/ (Ctrl-C stops web and worker)",
        )
    )


# Commands that hand their arguments, `--help` included, to Celery's own.
CELERY_COMMAND = {
    "with_appcontext": False,
    "add_help_option": False,
    "context_settings": {"ignore_unknown_options": True, "allow_extra_args": True},
}


@cli.command(**CELERY_COMMAND)
@click.argument("celery_args", nargs=-1, type=click.UNPROCESSED)
def worker(celery_args: tuple[str, ...]) -> None:
    """Run a Celery worker; `worker --help` lists Celery's options.

    It runs `celery -A celery_worker.celery worker --loglevel INFO` with the
    arguments given. On the prefork pool (the default) it sets
    REMAP_SIGTERM=SIGQUIT unless that is set: SIGTERM then stops the worker
    softly (README, "Stopping a worker"); the other pools cannot hand a
    running task back.
    """
    load_app()  # a bad setting stops here, in one line
    env = {**os.environ, "PYTHONPATH": str(PROJECT_DIR)}
    if pool_of(celery_args) == "prefork":
        env.setdefault("REMAP_SIGTERM", "SIGQUIT")
    command = [sys.executable, "-m", "celery", "-A", "celery_worker.celery"]
    command += ["worker", "--loglevel", "INFO", *celery_args]
    os.execve(sys.executable, command, env)  # noqa: S606 (our own interpreter)


def pool_of(celery_args: tuple[str, ...]) -> str:
    """The pool `celery worker` runs with these arguments: prefork unless told."""
    for index, argument in enumerate(celery_args):
        if argument in ("-P", "--pool") and index + 1 < len(celery_args):
            return celery_args[index + 1]
        if argument.startswith("--pool="):
            return argument.split("=", 1)[1]
        if argument.startswith("-P") and len(argument) > 2:
            return argument[2:]
    return "prefork"
{%- if cookiecutter.use_celery_beat %}


@cli.command(**CELERY_COMMAND)
@click.argument("celery_args", nargs=-1, type=click.UNPROCESSED)
def beat(celery_args: tuple[str, ...]) -> None:
    """Run Celery beat; `beat --help` lists Celery's options.

    Beat sends the periodic tasks of `CELERY["beat_schedule"]` in
    app/config.py. The arguments go to `celery beat`, after `--loglevel INFO`.
    """
    celery = load_app().extensions["celery"]
    celery.start(["beat", "--loglevel", "INFO", *celery_args])
{%- endif %}


@cli.group()
def jobs() -> None:
    """The job history: `jobs tidy` prunes and reconciles it."""


@jobs.command()
def tidy() -> None:
    """Prune jobs older than their results; end those whose end was lost."""
    ended, pruned = history.tidy(current_app.extensions["celery"].backend)
    click.echo(f"{ended} jobs ended, {pruned} pruned.")


@cli.command("send-test-email")
@click.argument("address")
def send_test_email_command(address: str) -> None:
    """Queue a test message to ADDRESS and print the task's id."""
    try:
        validate_email(address, check_deliverability=False)
    except EmailNotValidError as error:
        raise click.BadParameter(str(error), param_hint="ADDRESS") from None
    click.echo(send_test_email.delay(address).id)


if __name__ == "__main__":
    cli()
