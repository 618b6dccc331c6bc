"""Bad answers stop the bake cleanly; hostile but valid names bake valid code."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# The choice and yes/no variables, from the prompts' one source.
OPTIONS = {
    name: value
    for name, value in json.loads((REPO / "cookiecutter.json").read_text()).items()
    if isinstance(value, list | bool) and not name.startswith("_")
}


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
        # A path: cookiecutter makes every folder along it before the hook runs.
        ("project_slug=bad slug/../x", "project_slug"),
        ("project_slug=a/b/c", "project_slug"),
        ("project_slug=p/q/../../x/y", "project_slug"),
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
    "slug",
    ["kept/new", "kept/../new", "empty/new", "empty/deeper/../new", "../outside/new"],
)
def test_refused_path_slug_leaves_folders_that_existed_alone(tmp_path, slug):
    """Only folders the failed bake made go: not older ones, not outside folders."""
    output = tmp_path / "out"
    (output / "kept").mkdir(parents=True)
    (output / "kept/file.txt").write_text("mine")
    (output / "empty").mkdir()
    (tmp_path / "outside").mkdir()
    an_hour_ago = time.time() - 3600
    for folder in [output / "kept", output / "empty", tmp_path / "outside"]:
        os.utime(folder, (an_hour_ago, an_hour_ago))
    completed = cookiecutter(output, f"project_slug={slug}")
    assert completed.returncode != 0
    assert "ERROR: project_slug:" in completed.stderr
    assert sorted(path.name for path in output.iterdir()) == ["empty", "kept"]
    assert [path.name for path in (output / "kept").iterdir()] == ["file.txt"]
    assert list((output / "empty").iterdir()) == []
    assert list((tmp_path / "outside").iterdir()) == []


@pytest.mark.parametrize(
    "answer",
    [
        f"{name}={'maybe' if isinstance(value, bool) else 'not-a-choice'}"
        for name, value in OPTIONS.items()
    ],
)
def test_answer_outside_the_choices_is_refused(tmp_path, answer):
    """Cookiecutter itself refuses these before anything is written.

    So the pre-generation hook need not (and does not) check them.
    """
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
