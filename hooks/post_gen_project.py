"""After the bake: drop what unselected options do not need, write `.env`,
record the answers.

Each optional feature is whole files, removed by one function here, so the
templates themselves stay free of option clutter.
"""

import json
import re
import secrets
import shutil
import subprocess
from pathlib import Path


def remove(project: Path, *names: str) -> None:
    for name in names:
        path = project / name
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


def remove_celery_beat_files(project: Path) -> None:
    remove(project, "app/tasks/periodic.py", "tests/test_periodic.py")


def remove_redis_sentinel_files(project: Path) -> None:
    remove(project, "app/platform/sentinel.py", "tests/test_sentinel.py")


def remove_flower_files(project: Path) -> None:
    remove(
        project,
        "flowerconfig.py",
        "app/platform/flower_metrics_login.py",
        "tests/test_flower.py",
    )


def remove_docker_files(project: Path) -> None:
    remove(project, "Dockerfile", ".dockerignore", "compose.yaml")


def remove_github_ci_files(project: Path) -> None:
    remove(project, ".github")


def write_env_file(project: Path, compose: bool, flower: bool) -> None:
    """A local `.env` with fresh secrets; .gitignore keeps it out of git.

    With `compose`, it also holds the password of compose.yaml's PostgreSQL;
    with `flower`, a login for Flower, which asks for one outside development.
    """
    lines = [
        "# Local settings of this checkout; not committed (see .gitignore).",
        "APP_ENV=development",
        f"SECRET_KEY={secrets.token_urlsafe(48)}",
    ]
    if compose:
        lines.append(f"POSTGRES_PASSWORD={secrets.token_urlsafe(24)}")
    if flower:
        lines.append(f"FLOWER_BASIC_AUTH=admin:{secrets.token_urlsafe(24)}")
    env_file = project / ".env"
    env_file.write_text("\n".join(lines) + "\n")
    env_file.chmod(0o600)


def record_answers(project: Path, answers: dict) -> None:
    """`.cookiecutter.json`: the answers, so a later bake can repeat them.

    Cookiecutter's own keys (`_output_dir`, ...) are left out: they hold
    paths of the machine that baked, not answers.
    """
    public = {k: v for k, v in answers.items() if not k.startswith("_")}
    public["template_version"] = answers["__template_version"]
    text = json.dumps(public, indent=2, sort_keys=True, ensure_ascii=False)
    (project / ".cookiecutter.json").write_text(text + "\n")


def record_template(project: Path, answers: dict) -> None:
    """`.cruft.json`, so that `cruft update` can bring in later template releases.

    Written only when the template is a git checkout (its commit is the
    version). Under cruft (`cruft create`, `cruft update`), which writes the
    file itself, there is no `_repo_dir` and nothing is done.
    """
    if "_repo_dir" not in answers:
        return
    repo = Path(answers["_repo_dir"]).resolve()
    commit = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    )
    if commit.returncode != 0:
        return
    template = answers["_template"]
    if not re.match(r"^[\w+.-]+:", template):  # a local path, not a URL
        template = str(repo)
    context = {k: v for k, v in answers.items() if not k.startswith("_")}
    cruft = {
        "template": template,
        "commit": commit.stdout.strip(),
        "checkout": answers.get("_checkout"),
        "context": {"cookiecutter": {**context, "_template": template}},
        "directory": None,
        # Made fresh by each bake: never offered as an update.
        "skip": [".env", ".cookiecutter.json", ".cruft.json"],
    }
    text = json.dumps(cruft, indent=2, ensure_ascii=False)
    (project / ".cruft.json").write_text(text + "\n")


def main(project: Path, answers: dict) -> None:
    if not answers["use_celery_beat"]:
        remove_celery_beat_files(project)
    if not answers["use_redis_sentinel"]:
        remove_redis_sentinel_files(project)
    if not answers["use_flower"]:
        remove_flower_files(project)
    if not answers["use_docker"]:
        remove_docker_files(project)
    if answers["ci"] != "github":
        remove_github_ci_files(project)
    write_env_file(project, compose=answers["use_docker"], flower=answers["use_flower"])
    record_answers(project, answers)
    record_template(project, answers)


if __name__ == "__main__":
    main(Path.cwd(), json.loads({{cookiecutter | jsonify | python_string}}))
