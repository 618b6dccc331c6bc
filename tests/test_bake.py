"""Every option bakes into a clean project: each one on and off, the pairs
that meet in a file, and every Python version.

The options meet in a few files only (compose.yaml: broker, beat, Flower;
the CI workflow and .env.example: broker; app/platform: broker, Sentinel;
README: all of them), so the table below, not the 256-bake product, covers
every pair of values of broker, Sentinel, beat, Flower, Docker and CI, and
each Python version at least once.
The time saved goes to the tests that run real servers.
"""

import itertools
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from support import run_project

OPTIONS = json.loads((Path(__file__).parent.parent / "cookiecutter.json").read_text())
# python_version, broker, sentinel, beat, flower, docker, ci
TABLE = [
    ("3.13", "redis", False, False, False, False, "github"),
    ("3.12", "rabbitmq", False, True, True, True, "github"),
    ("3.11", "redis", False, True, True, True, "none"),
    ("3.10", "rabbitmq", False, False, False, False, "none"),
    ("3.13", "rabbitmq", False, True, False, True, "github"),
    ("3.13", "redis", True, False, True, True, "none"),
    ("3.12", "redis", True, True, False, False, "none"),
    ("3.11", "rabbitmq", True, False, True, False, "github"),
]
NAMES = (
    "python_version",
    "broker",
    "use_redis_sentinel",
    "use_celery_beat",
    "use_flower",
    "use_docker",
    "ci",
)
COMBINATIONS = [dict(zip(NAMES, row, strict=True)) for row in TABLE]
# Files each option adds; they must be there exactly when it is selected.
OPTION_FILES = {
    "use_redis_sentinel": ["app/platform/sentinel.py", "tests/test_sentinel.py"],
    "use_celery_beat": ["app/tasks/periodic.py"],
    "use_flower": ["flowerconfig.py"],
    "use_docker": ["Dockerfile", "compose.yaml", ".dockerignore"],
}
# GitHub Actions' own expressions, `${{ matrix.python-version }}`, are not Jinja.
GITHUB_EXPRESSION = re.compile(r"\$\{\{[^}]*\}\}")
# A cookiecutter variable left in a file (`.cookiecutter.json` is a file name).
UNRENDERED = re.compile(r"(?<!\.)\bcookiecutter\.(?!json\b)\w+")
# Flask's own Jinja templates and static files, copied without rendering.
FLASK_TEMPLATE_DIRS = ("app/templates", "app/static")


def test_the_table_covers_every_pair_and_every_python_version():
    """Each Python version appears, and every two options meet in each pairing."""
    assert {row["python_version"] for row in COMBINATIONS} == set(
        OPTIONS["python_version"]
    )
    values = {
        name: OPTIONS[name] if isinstance(OPTIONS[name], list) else [True, False]
        for name in NAMES[1:]
    }
    for first, second in itertools.combinations(NAMES[1:], 2):
        seen = {(row[first], row[second]) for row in COMBINATIONS}
        wanted = set(itertools.product(values[first], values[second]))
        assert seen == wanted, (first, second, wanted - seen)


def combination_id(options: dict) -> str:
    flags = [
        f"py{options['python_version']}",
        options["broker"],
        "sentinel" if options["use_redis_sentinel"] else "nosentinel",
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
def test_combination_bakes_clean(cookies, project_venv, options, tmp_path):
    """It bakes, renders fully, compiles, passes ruff, holds its files, and
    its migrations build a database that matches its models."""
    project = bake(cookies, **options)

    for path, text in text_files(project):
        relative = path.relative_to(project).as_posix()
        assert not UNRENDERED.search(text), f"unrendered variable in {relative}"
        if not relative.startswith(FLASK_TEMPLATE_DIRS):
            text = GITHUB_EXPRESSION.sub("", text)
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

    database = {"DATABASE_URL": f"sqlite:///{tmp_path / 'check.sqlite'}"}
    for command in (["db", "upgrade"], ["db", "check"]):
        run_project(
            project, project_venv, "python", "manage.py", *command, env=database
        )


def test_each_bake_gets_its_own_secret_key(cookies):
    """Two bakes never share a SECRET_KEY."""
    keys = {(bake(cookies) / ".env").read_text() for _ in range(2)}
    assert len(keys) == 2
