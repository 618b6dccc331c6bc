"""Bad answers stop the bake cleanly; hostile but valid names bake valid code."""

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def cookiecutter(output_dir: Path, *answers: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cookiecutter", "--no-input", str(REPO)]
        + ["--output-dir", str(output_dir), *answers],
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize(
    ("answer", "variable"),
    [
        ("author_email=not-an-address", "author_email"),
        ("project_slug=Not A Slug", "project_slug"),
        ("project_slug=../outside", "project_slug"),
        ("project_slug=app", "project_slug"),
        ("project_name=two\nlines", "project_name"),
        ("description=a\x1bb", "description"),
        ("project_name=" + "x" * 101, "project_name"),
        # A long name is fine, but the slug derived from it is too long.
        ("project_name=" + "N" * 100, "project_slug"),
        ("author_name=Ada\nLovelace", "author_name"),
        ("author_email=ada@example.com\nBcc: eve@example.com", "author_email"),
    ],
)
def test_bad_answer_stops_the_bake_and_leaves_nothing(tmp_path, answer, variable):
    """Non-zero exit, a line naming the variable, an empty output folder."""
    completed = cookiecutter(tmp_path, answer)
    assert completed.returncode != 0
    assert f"ERROR: {variable}:" in completed.stderr + completed.stdout
    assert list(tmp_path.iterdir()) == []
    assert not (tmp_path.parent / "outside").exists()


@pytest.mark.parametrize(
    "answer",
    ["broker=kafka", "use_docker=maybe"],
)
def test_answer_outside_the_choices_is_refused(tmp_path, answer):
    """Cookiecutter itself refuses these before anything is written."""
    completed = cookiecutter(tmp_path, answer)
    assert completed.returncode != 0
    assert answer.split("=")[0] in completed.stderr + completed.stdout
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "name",
    [
        "Shop Reports",
        "Café Crème",
        'The "Best" App',
        "O'Brien's Reports",
        "Back\\slash & <angle>",
        "{{ 7 * 7 }} Jinja",
        "ünïcödé ñame 日本",
        "Reports/2026 ../../etc",
        "{% raw %}x{% endraw %} `$(rm -rf /)`",
    ],
)
def test_hostile_name_bakes_valid_code(cookies, name):
    """Quotes, accents and Jinja in the name still make a clean project."""
    result = cookies.bake(extra_context={"project_name": name, "description": name})
    assert result.exit_code == 0, result.exception
    project = Path(result.project_path)
    for path in project.rglob("*.py"):
        compile(path.read_text(), str(path), "exec")
    completed = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", "--no-cache", "."],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout
