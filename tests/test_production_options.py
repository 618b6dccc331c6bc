"""The production options, checked with their real tools.

No Docker engine or GitHub runner is here: the Dockerfile is linted with
hadolint, compose.yaml and the workflow are validated against their published
schemas (check-jsonschema's built-in copies), and template updates are
applied with cruft.
"""

import json
import shutil
import subprocess
import sys
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
