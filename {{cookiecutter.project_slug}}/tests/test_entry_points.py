"""gunicorn, the worker and manage.py stop on a bad setting with one line."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import PROJECT_DIR

BIN = Path(sys.executable).parent
BAD_SETTINGS = {
    "SECRET_KEY is not set": {"APP_ENV": "production", "SECRET_KEY": ""},
    "CELERY_BROKER_URL must start with": {
        "APP_ENV": "development",
        "CELERY_BROKER_URL": "rabbitmq://guest:guest@localhost:5672//",
    },
}
COMMANDS = {
    "gunicorn": [str(BIN / "gunicorn"), "--bind", "127.0.0.1:0", "wsgi:app"],
    "worker": [str(BIN / "celery"), "-A", "celery_worker.celery", "worker"],
    "manage.py": [sys.executable, "manage.py", "routes"],
    # A command of the app itself (Flask-Migrate's), as a deployment runs it.
    "manage.py db": [sys.executable, "manage.py", "db", "upgrade"],
}


@pytest.mark.parametrize("message", BAD_SETTINGS)
@pytest.mark.parametrize("command", COMMANDS)
def test_a_bad_setting_is_one_line_not_a_traceback(command, message):
    """The process exits non-zero, naming the setting, with no traceback."""
    env = {**os.environ, **BAD_SETTINGS[message], "PYTHONPATH": str(PROJECT_DIR)}
    completed = subprocess.run(
        COMMANDS[command],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode != 0
    assert message in output
    assert "Traceback" not in output
    assert "guest:guest" not in output
    # The setting is the error, not the command that could not load.
    assert "No such command" not in output, output


def fresh_clone(folder: Path) -> Path:
    """The project as a clone has it: no .env (git ignores it), no instance/."""
    clone = folder / "clone"
    ignored = shutil.ignore_patterns(".env", "instance", ".venv", "__pycache__")
    shutil.copytree(PROJECT_DIR, clone, ignore=ignored)
    return clone


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({}, "APP_ENV is not set"),
        ({"APP_ENV": "development"}, "SECRET_KEY is not set"),
    ],
)
def test_gunicorn_never_serves_debug_mode_on_a_published_key(
    tmp_path, settings, message
):
    """A fresh clone, no APP_ENV: gunicorn stops with one line naming it.
    Development without a SECRET_KEY would run on the template's own key."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in {"APP_ENV", "SECRET_KEY", "PYTHONPATH"}
    }
    completed = subprocess.run(
        [str(BIN / "gunicorn"), "--bind", "127.0.0.1:0", "wsgi:app"],
        cwd=fresh_clone(tmp_path),
        env={**env, **settings},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode != 0
    assert message in output
    assert "Traceback" not in output
