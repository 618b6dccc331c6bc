"""The template's own code (hooks, tests, benchmarks, scripts) is lint-clean.

The generated project is linted in each bake (tests/test_bake.py); this covers
the code around it, with the settings of the root pyproject.toml.
"""

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    "command",
    [["check"], ["format", "--check"]],
    ids=["check", "format"],
)
def test_ruff_passes_at_the_root(command):
    """`ruff check .` and `ruff format --check .` pass at the repository root."""
    completed = subprocess.run(
        [sys.executable, "-m", "ruff", *command, "--no-cache", "."],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_ruff_leaves_the_jinja_project_to_the_bakes():
    """The Jinja project folder is excluded, its pyproject.toml never read."""
    completed = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--show-files", "--no-cache", "."],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    files = completed.stdout.splitlines()
    assert any(line.endswith("hooks/pre_gen_project.py") for line in files)
    assert any(line.endswith("local_extensions.py") for line in files)
    assert not [line for line in files if "cookiecutter.project_slug" in line]
