"""The production options, checked with their real tools.

No Docker engine or GitHub runner is here: the Dockerfile is linted with
hadolint, compose.yaml and the workflow are validated against their published
schemas (check-jsonschema's built-in copies), and template updates are
applied with cruft.
"""

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml
from cookiecutter.main import cookiecutter
from support import REPO

BIN = Path(sys.executable).parent
EVERYTHING = {"use_docker": True, "use_celery_beat": True, "use_flower": True}


def run(*command: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run a tool from the test venv in `cwd`; assert it succeeds."""
    completed = subprocess.run(
        [str(BIN / command[0]), *command[1:]],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return completed


@pytest.fixture(params=["redis", "rabbitmq"])
def project(cookies, request) -> Path:
    """A bake with every option on, for each broker."""
    result = cookies.bake(extra_context={**EVERYTHING, "broker": request.param})
    assert result.exit_code == 0, result.exception
    return Path(result.project_path)


def test_dockerfile_passes_hadolint(project):
    """Multi-stage, non-root, every file each service reads: hadolint is happy."""
    run("hadolint", "Dockerfile", cwd=project)
    dockerfile = (project / "Dockerfile").read_text()
    assert dockerfile.count("FROM ") == 2
    assert "\nUSER 10001" in dockerfile
    assert "SECRET_KEY" not in dockerfile
    # Flower's login lives in flowerconfig.py: without it, no login at all.
    assert "flowerconfig.py" in dockerfile
    # One image serves web, worker, beat and Flower: no healthcheck of one
    # service may be inherited by the others.
    assert "\nHEALTHCHECK" not in dockerfile


def test_each_compose_service_checks_its_own_health(project):
    """Web asks /healthz, each worker pings itself, Flower its health page."""
    services = yaml.safe_load((project / "compose.yaml").read_text())["services"]
    assert "/healthz" in " ".join(services["web"]["healthcheck"]["test"])
    worker_check = " ".join(services["worker"]["healthcheck"]["test"])
    assert "inspect ping" in worker_check
    assert "-d worker@$$HOSTNAME" in worker_check
    assert "--hostname worker@%h" in services["worker"]["command"]
    # A worker per queue: long work never occupies the process mail needs.
    assert "-Q celery" in services["worker"]["command"]
    assert "-Q mail" in services["mail-worker"]["command"]
    mail_check = " ".join(services["mail-worker"]["healthcheck"]["test"])
    assert "-d mail@$$HOSTNAME" in mail_check
    assert "--hostname mail@%h" in services["mail-worker"]["command"]
    assert "/healthcheck" in " ".join(services["flower"]["healthcheck"]["test"])
    assert services["beat"]["healthcheck"] == {"disable": True}


def test_compose_file_follows_the_compose_specification(project):
    """compose.yaml validates, and runs Redis with append-only persistence."""
    run(
        "check-jsonschema",
        "--builtin-schema",
        "vendor.compose-spec",
        "compose.yaml",
        cwd=project,
    )
    compose = (project / "compose.yaml").read_text()
    assert "--appendonly yes" in compose
    for service in ("web:", "worker:", "beat:", "flower:", "redis:"):
        assert service in compose
    broker = json.loads((project / ".cookiecutter.json").read_text())["broker"]
    assert ("rabbitmq:" in compose) == (broker == "rabbitmq")


def test_github_workflow_follows_the_workflow_schema(project):
    """The generated CI workflow validates against GitHub's schema."""
    run(
        "check-jsonschema",
        "--builtin-schema",
        "vendor.github-workflows",
        ".github/workflows/ci.yml",
        cwd=project,
    )


def test_pre_commit_config_is_valid(project):
    """pre-commit accepts the configuration (ruff check and format)."""
    run("pre-commit", "validate-config", ".pre-commit-config.yaml", cwd=project)


def test_template_updates_reach_a_baked_project(tmp_path):
    """A bake from a git checkout records it; cruft then applies a new release."""
    template = tmp_path / "template"
    subprocess.run(["git", "clone", "-q", str(REPO), str(template)], check=True)
    project = Path(cookiecutter(str(template), no_input=True, output_dir=tmp_path))
    run("cruft", "check", cwd=project)

    git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.com"]
    subprocess.run([*git, "init", "-q"], cwd=project, check=True)
    subprocess.run([*git, "add", "-A"], cwd=project, check=True)
    subprocess.run([*git, "commit", "-qm", "baked"], cwd=project, check=True)

    readme = template / "{{cookiecutter.project_slug}}" / "README.md"
    readme.write_text(readme.read_text() + "\nA new release of the template.\n")
    subprocess.run([*git, "commit", "-qam", "release"], cwd=template, check=True)
    with pytest.raises(AssertionError, match="out of date"):
        run("cruft", "check", cwd=project)
    run("cruft", "update", "--skip-apply-ask", "--allow-untracked-files", cwd=project)
    assert "A new release of the template." in (project / "README.md").read_text()
    shutil.rmtree(template)


def test_the_image_installs_the_dependencies_before_the_code(project):
    """A code change reuses the dependency layer; the code is copied last."""
    dockerfile = (project / "Dockerfile").read_text()
    build, final = dockerfile.split("\nFROM ", 2)[1:]
    assert "COPY app" not in build  # the dependencies alone
    assert build.index("COPY pyproject.toml") < build.index("pip install")
    copies = [line for line in final.splitlines() if line.startswith("COPY")]
    assert copies[-1].endswith("app ./app")
    # SIGTERM (docker stop, a redeploy) stops a worker softly.
    assert "REMAP_SIGTERM=SIGQUIT" in final


def test_pyproject_alone_installs_the_dependencies_only(project, tmp_path):
    """The image's first layer: pyproject.toml without app/ builds an empty
    distribution of the project's name, which the same RUN uninstalls."""
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(project / name, tmp_path / name)
    run(
        "python",
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        "-q",
        "-w",
        "dist",
        ".",
        cwd=tmp_path,
    )
    [wheel] = (tmp_path / "dist").glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        assert not [name for name in archive.namelist() if name.startswith("app/")]
    slug = json.loads((project / ".cookiecutter.json").read_text())["project_slug"]
    assert wheel.name.startswith(slug.replace("-", "_") + "-")
    assert f"pip uninstall --yes --quiet {slug}" in (project / "Dockerfile").read_text()


def test_a_built_wheel_is_complete(cookies, project_venv, tmp_path):
    """Installed from its wheel alone, away from the source, the app serves
    its page, its script and its API document."""
    project = Path(cookies.bake().project_path)
    run(
        "python",
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        "-q",
        "-w",
        str(tmp_path),
        ".",
        cwd=project,
    )
    [wheel] = tmp_path.glob("*.whl")
    installed = tmp_path / "site"
    run(
        "python",
        "-m",
        "pip",
        "install",
        "--no-deps",
        "-q",
        "--target",
        str(installed),
        str(wheel),
        cwd=tmp_path,
    )
    check = (
        "from app import create_app\n"
        "client = create_app('testing').test_client()\n"
        "for path in ('/', '/static/progress.js', '/openapi.json'):\n"
        "    assert client.get(path).status_code == 200, path\n"
        "print(create_app.__module__ and __import__('app').__file__)\n"
    )
    away = tmp_path / "elsewhere"
    away.mkdir()
    completed = subprocess.run(
        [str(project_venv.python), "-c", check],
        cwd=away,
        env={"PATH": os.environ["PATH"], "PYTHONPATH": str(installed)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip().startswith(str(installed))


def test_compose_publishes_flower_on_this_machine_only(project):
    """Flower's login is plain basic auth: it listens on 127.0.0.1 only, and
    the bake's .env holds a login, so Flower starts (it refuses without)."""
    services = yaml.safe_load((project / "compose.yaml").read_text())["services"]
    assert services["flower"]["ports"] == ["127.0.0.1:5555:5555"]
    assert "FLOWER_BASIC_AUTH=admin:" in (project / ".env").read_text()
    assert "APP_BASE_URL" in services["web"]["environment"]


def test_the_workflow_runs_both_ends_of_the_supported_pythons(cookies):
    """The image's Python, the lowest and the highest of cookiecutter.json."""
    choices = json.loads((REPO / "cookiecutter.json").read_text())["python_version"]
    ordered = sorted(choices, key=lambda version: tuple(map(int, version.split("."))))
    for chosen in choices:
        project = Path(
            cookies.bake(extra_context={"python_version": chosen}).project_path
        )
        workflow = yaml.safe_load((project / ".github/workflows/ci.yml").read_text())
        matrix = workflow["jobs"]["test"]["strategy"]["matrix"]["python-version"]
        assert set(matrix) == {ordered[0], chosen, ordered[-1]}
