"""The command line: python manage.py ..."""

import os
import subprocess
import sys

import click
from conftest import PROJECT_DIR
from flask.cli import ScriptInfo

from manage import cli

# Flask's own commands, then the project's.
COMMANDS = {
    "run",
    "shell",
    "routes",
    "dev",
    "worker",
    "db",
    "send-test-email",
    "jobs",
    # Flask-Limiter's own: `limiter limits` lists the rate limits in force.
    "limiter",
{%- if cookiecutter.use_celery_beat %}
    "beat",
{%- endif %}
}


def test_send_test_email_prints_the_task_id(runner):
    """It queues the message and prints the id to follow it by."""
    result = runner.invoke(cli, ["send-test-email", "ada@example.com"])
    assert result.exit_code == 0, result.output
    assert len(result.output.strip()) == 36


def test_send_test_email_refuses_a_bad_address(runner):
    """A bad address is a usage error; nothing is queued."""
    result = runner.invoke(cli, ["send-test-email", "not-an-address"])
    assert result.exit_code == 2
    assert "ADDRESS" in result.output


def test_the_commands_are_exactly_these(app):
    """`python manage.py --help` lists these commands, no more, no fewer."""
    context = click.Context(cli, obj=ScriptInfo(create_app=lambda: app))
    assert set(cli.list_commands(context)) == COMMANDS


def test_help_lists_every_command(runner):
    """Each command has a line of its own under Commands."""
    output = runner.invoke(cli, ["--help"]).output
    listing = output.split("\nCommands:\n", 1)[1].splitlines()
    assert {line.split()[0] for line in listing if line[2:3].strip()} == COMMANDS


def test_worker_help_shows_celerys_options():
    """`worker --help` is Celery's own help; it starts no worker."""
    result = subprocess.run(
        [sys.executable, "manage.py", "worker", "--help"],
        cwd=PROJECT_DIR,
        env={**os.environ, "APP_ENV": "testing"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    for option in ("--concurrency", "--pool", "--queues", "--loglevel"):
        assert option in result.stdout


def test_jobs_tidy_prunes_the_history(runner):
    """`jobs tidy` reports what it ended and pruned."""
    result = runner.invoke(cli, ["jobs", "tidy"])
    assert result.exit_code == 0, result.output
    assert result.output == "0 jobs ended, 0 pruned.\n"
{%- if cookiecutter.use_celery_beat %}


def test_beat_help_shows_celerys_options(runner):
    """`beat --help` is Celery's own help; it starts no beat."""
    result = runner.invoke(cli, ["beat", "--help"])
    assert result.exit_code == 0, result.output
    for option in ("--schedule", "--scheduler", "--max-interval", "--loglevel"):
        assert option in result.output
{%- endif %}
