"""The hooks and filters, as plain functions."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
from jinja2 import Environment

REPO = Path(__file__).resolve().parent.parent


def load(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


pre_gen = load(REPO / "hooks/pre_gen_project.py")
post_gen = load(REPO / "hooks/post_gen_project.py")
extensions = load(REPO / "local_extensions.py")

# The prompts' choices and yes/no defaults, from their one source.
OPTIONS = {
    name: value[0] if isinstance(value, list) else value
    for name, value in json.loads((REPO / "cookiecutter.json").read_text()).items()
    if isinstance(value, list | bool) and not name.startswith("_")
}
VALID = {
    **OPTIONS,
    "project_name": "Shop Reports",
    "project_slug": "shop-reports",
    "description": "Reports, in the background.",
    "author_name": "Ada",
    "author_email": "ada@example.com",
    "use_docker": True,
}
TRICKY_TEXT = [
    "plain",
    "O'Brien's app",
    'Say "hi"',
    '"mixed" \'quotes\' "here"',
    "back\\slash",
    "Café Crème ñ 日本",
    "tab\tand\nnewline",
    "{{ not jinja }}",
]


def render(template: str, value: str) -> str:
    environment = Environment(
        extensions=[extensions.python_string, extensions.toml_string]
    )
    return environment.from_string(template).render(value=value)


def test_valid_answers_pass():
    """The default-like answers raise no problem."""
    assert pre_gen.problems(VALID) == []


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("project_name", ""),
        ("project_name", "two\nlines"),
        ("project_name", "x" * 101),
        ("project_slug", "Upper"),
        ("project_slug", "has space"),
        ("project_slug", "../escape"),
        ("project_slug", "a/b"),
        ("project_slug", "-leading-dash"),
        ("project_slug", "app"),
        ("project_slug", "x" * 65),
        ("author_email", "ada"),
        ("author_email", "ada@localhost"),
        ("author_email", "ada @example.com"),
        ("author_email", "ada@example.com\nBcc: eve@example.com"),
        ("description", "line\nbreak"),
    ],
)
def test_bad_answer_is_named(variable, value):
    """Each bad answer is reported against its own variable."""
    problems = pre_gen.problems({**VALID, variable: value})
    assert [name for name, _ in problems] == [variable]


def test_choices_are_left_to_cookiecutter():
    """The hook does not repeat the choices: a choice added later needs no change.

    Cookiecutter refuses an answer outside a choice before the hook runs
    (tests/test_prompts.py).
    """
    later = {name: "added-later" for name in OPTIONS}
    assert pre_gen.problems({**VALID, **later}) == []


def test_main_prints_one_line_and_fails(capsys):
    """The hook's output is one line that names the variable."""
    assert pre_gen.main({**VALID, "author_email": "nope"}) == 1
    assert (
        capsys.readouterr().err
        == "ERROR: author_email: 'nope' is not a valid e-mail address\n"
    )


@pytest.mark.parametrize("value", TRICKY_TEXT)
def test_python_string_is_valid_and_ruff_stable(value, tmp_path):
    """The literal evaluates back to the text and ruff format leaves it alone."""
    literal = render("{{ value | python_string }}", value)
    assert eval(literal) == value
    source = tmp_path / "x.py"
    source.write_text(f"x = {literal}\n")
    completed = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", "--no-cache", str(source)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout


@pytest.mark.parametrize("value", TRICKY_TEXT)
def test_toml_string_round_trips(value):
    """The TOML literal parses back to the text."""
    import tomllib

    literal = render("{{ value | toml_string }}", value)
    assert tomllib.loads(f"x = {literal}")["x"] == value


def test_post_gen_removes_unselected_options(tmp_path):
    """Files of unselected options go; a .env with a secret is written."""
    for name in [
        "app/tasks/periodic.py",
        "app/platform/sentinel.py",
        "flowerconfig.py",
        "Dockerfile",
        "compose.yaml",
    ]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    (tmp_path / ".github/workflows").mkdir(parents=True)
    answers = {**VALID, "ci": "none", "__template_version": "1.0", "_output_dir": "/x"}
    post_gen.main(tmp_path, answers)
    assert not (tmp_path / "app/tasks/periodic.py").exists()
    assert not (tmp_path / "app/platform/sentinel.py").exists()
    assert not (tmp_path / "flowerconfig.py").exists()
    assert (tmp_path / "Dockerfile").exists()
    assert not (tmp_path / ".github").exists()
    assert (tmp_path / ".env").stat().st_mode & 0o777 == 0o600
    recorded = (tmp_path / ".cookiecutter.json").read_text()
    assert "_output_dir" not in recorded and '"template_version": "1.0"' in recorded


@pytest.mark.parametrize("flower", [True, False])
def test_post_gen_writes_a_flower_login_when_flower_is_chosen(tmp_path, flower):
    """Flower refuses to start outside development without FLOWER_BASIC_AUTH."""
    answers = {**VALID, "use_flower": flower, "__template_version": "1.0"}
    post_gen.main(tmp_path, answers)
    env = dict(
        line.split("=", 1)
        for line in (tmp_path / ".env").read_text().splitlines()
        if "=" in line
    )
    assert ("FLOWER_BASIC_AUTH" in env) is flower
    if flower:
        user, password = env["FLOWER_BASIC_AUTH"].split(":")
        assert user == "admin" and len(password) >= 24
