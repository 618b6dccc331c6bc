"""Every combination of the options bakes into a clean project."""

import itertools
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

OPTIONS = {
    "python_version": ["3.13", "3.12", "3.11", "3.10"],
    "broker": ["redis", "rabbitmq"],
    "use_celery_beat": [True, False],
    "use_flower": [True, False],
    "use_docker": [True, False],
    "ci": ["github", "none"],
}
COMBINATIONS = [
    dict(zip(OPTIONS, values, strict=True))
    for values in itertools.product(*OPTIONS.values())
]
# Files each option adds; they must be there exactly when it is selected.
OPTION_FILES = {
    "use_celery_beat": ["app/tasks/periodic.py"],
    "use_flower": ["flowerconfig.py"],
    "use_docker": ["Dockerfile", "compose.yaml", ".dockerignore"],
}
# A cookiecutter variable left in a file (`.cookiecutter.json` is a file name).
UNRENDERED = re.compile(r"(?<!\.)\bcookiecutter\.(?!json\b)\w+")
# Flask's own Jinja templates and static files, copied without rendering.
FLASK_TEMPLATE_DIRS = ("app/templates", "app/static")


def combination_id(options: dict) -> str:
    flags = [
        f"py{options['python_version']}",
        options["broker"],
        "beat" if options["use_celery_beat"] else "nobeat",
        "flower" if options["use_flower"] else "noflower",
        "docker" if options["use_docker"] else "nodocker",
        f"ci-{options['ci']}",
    ]
    return "-".join(flags)


def bake(cookies, **options) -> Path:
    result = cookies.bake(extra_context=options)
    assert result.exit_code == 0, f"bake failed: {result.exception!r}"
    assert result.exception is None
    return Path(result.project_path)


def text_files(project: Path):
    for path in sorted(project.rglob("*")):
        if path.is_file() and ".ruff_cache" not in path.parts:
            try:
                yield path, path.read_text()
            except UnicodeDecodeError:
                continue


@pytest.mark.parametrize("options", COMBINATIONS, ids=map(combination_id, COMBINATIONS))
def test_combination_bakes_clean(cookies, options):
    """It bakes, renders fully, compiles, passes ruff, and holds its files."""
    project = bake(cookies, **options)

    for path, text in text_files(project):
        relative = path.relative_to(project).as_posix()
        assert not UNRENDERED.search(text), f"unrendered variable in {relative}"
        if not relative.startswith(FLASK_TEMPLATE_DIRS):
            assert "{{" not in text and "{%" not in text, f"Jinja left in {relative}"
        if path.suffix == ".py":
            compile(text, relative, "exec")

    for option, files in OPTION_FILES.items():
        for name in files:
            assert (project / name).exists() == options[option], name
    workflow = project / ".github/workflows/ci.yml"
    assert workflow.exists() == (options["ci"] == "github")

    answers = json.loads((project / ".cookiecutter.json").read_text())
    assert answers["broker"] == options["broker"]
    assert "SECRET_KEY=" in (project / ".env").read_text()

    ruff = [sys.executable, "-m", "ruff"]
    for command in (["check", "."], ["format", "--check", "."]):
        completed = subprocess.run(
            [*ruff, *command, "--no-cache"],
            cwd=project,
            capture_output=True,
            text=True,
            check=False,
        )
        assert completed.returncode == 0, completed.stdout + completed.stderr


def test_each_bake_gets_its_own_secret_key(cookies):
    """Two bakes never share a SECRET_KEY."""
    keys = {(bake(cookies) / ".env").read_text() for _ in range(2)}
    assert len(keys) == 2
