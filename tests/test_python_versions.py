"""A bake runs on every Python it supports: the lowest and the highest choice.

The README promises Python 3.10 to 3.13, the `python_version` choices of
cookiecutter.json. The default bake runs its own test suite on the lowest and
the highest of them, each in a virtualenv of its own that is built once and
kept in .cache/ (baked-venv-pyX.Y-*).

An interpreter is found by name on PATH (`python3.10`, as GitHub's
setup-python provides it) or among pyenv's versions. A missing one skips the
test with the reason, or fails it under CI=true: CI must run them.
"""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from support import REPO, baked, run_project, run_project_tests, shared_project_venv

pytestmark = pytest.mark.e2e

CHOICES = json.loads((REPO / "cookiecutter.json").read_text())["python_version"]
SUPPORTED = sorted(CHOICES, key=lambda version: tuple(map(int, version.split("."))))
# Prints the interpreter's real path (not a pyenv shim's) and its X.Y version.
WHO_ARE_YOU = "import sys; print(sys.executable); print('%d.%d' % sys.version_info[:2])"


def find_python(version: str) -> str | None:
    """The path of a working Python `version` ("3.10"), or None.

    First `pythonX.Y` on PATH (a pyenv shim there may refuse to run: then it
    does not count), then the newest X.Y.Z under `pyenv root`.
    """
    name = f"python{version}"
    candidates = [shutil.which(name)]
    root = pyenv_root()
    if root is not None:
        builds = [
            path
            for path in (root / "versions").glob(f"{version}.*/bin/{name}")
            if re.fullmatch(rf"{re.escape(version)}\.\d+", path.parent.parent.name)
        ]
        builds.sort(key=lambda path: int(path.parent.parent.name.split(".")[-1]))
        candidates += reversed(builds)
    for candidate in filter(None, candidates):
        completed = subprocess.run(
            [str(candidate), "-c", WHO_ARE_YOU],
            capture_output=True,
            text=True,
            check=False,
        )
        lines = completed.stdout.splitlines()
        if completed.returncode == 0 and lines[1:] == [version]:
            return lines[0]
    return None


def pyenv_root() -> Path | None:
    """pyenv's folder (`pyenv root`, else $PYENV_ROOT or ~/.pyenv) if there is one."""
    pyenv = shutil.which("pyenv")
    if pyenv:
        completed = subprocess.run(
            [pyenv, "root"], capture_output=True, text=True, check=False
        )
        if completed.returncode == 0 and completed.stdout.strip():
            return Path(completed.stdout.strip())
    root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    return root if root.is_dir() else None


@pytest.mark.parametrize("version", [SUPPORTED[0], SUPPORTED[-1]])
def test_default_bake_passes_its_own_tests_on(version, cookies):
    """The default bake's suite passes on this Python (SQLite, its own Redis)."""
    python = find_python(version)
    if python is None:
        reason = (
            f"Python {version} not found: no working python{version} on PATH "
            "or in pyenv (GitHub: actions/setup-python)"
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    venv = shared_project_venv(REPO / ".cache", python)
    project = baked(cookies)
    running = run_project(project, venv, "python", "-c", WHO_ARE_YOU)
    assert running.stdout.splitlines()[1] == version
    run_project_tests(project, venv, "-x")
