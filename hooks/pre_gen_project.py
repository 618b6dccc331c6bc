"""Before the bake: refuse answers that would make a broken project.

Each check returns a message, or None when the answer is fine. On the first
bad answer the hook prints one line naming the variable and exits with status
1; cookiecutter then removes the folder it created for this bake (and leaves
alone a folder that existed before, when asked to overwrite one).
"""

import json
import re
import sys

CHOICES = {
    "python_version": ("3.13", "3.12", "3.11", "3.10"),
    "broker": ("redis", "rabbitmq"),
    "ci": ("github", "none"),
}
BOOLEANS = ("use_celery_beat", "use_flower", "use_docker")
# A folder and distribution name: lowercase words joined by - or _.
SLUG = re.compile(r"^[a-z0-9]+(?:[-_][a-z0-9]+)*$")
# Names that would shadow a package the project imports or holds.
RESERVED_SLUGS = {"app", "tests", "celery", "flask", "kombu", "redis", "test"}
# A plain address: one @, no spaces or control characters, a dotted domain.
EMAIL = re.compile(r"^[^@\s]+@[^@\s.]+(?:\.[^@\s.]+)+$")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def check_text(value: str, max_length: int) -> str | None:
    if CONTROL.search(value):
        return "must be one line without control characters"
    if len(value) > max_length:
        return f"must be at most {max_length} characters"
    return None


def check_project_name(value: str) -> str | None:
    if not value.strip():
        return "must not be empty"
    return check_text(value, 100)


def check_project_slug(value: str) -> str | None:
    if not SLUG.match(value):
        return (
            f"{value!r} is not a valid folder and distribution name: use "
            "lowercase letters and digits, words joined by - or _"
        )
    if len(value) > 64:
        return "must be at most 64 characters"
    if value in RESERVED_SLUGS:
        return f"{value!r} would shadow a package of the project; pick another"
    return None


def check_email(value: str) -> str | None:
    if not EMAIL.match(value) or len(value) > 254:
        return f"{value!r} is not a valid e-mail address"
    return None


def problems(answers: dict) -> list[tuple[str, str]]:
    """(variable, message) for every bad answer, in prompt order."""
    checks = {
        "project_name": check_project_name,
        "project_slug": check_project_slug,
        "description": lambda value: check_text(value, 200),
        "author_name": lambda value: check_text(value, 200),
        "author_email": check_email,
    }
    found = []
    for name, check in checks.items():
        message = check(str(answers[name]))
        if message:
            found.append((name, message))
    for name, allowed in CHOICES.items():
        if answers[name] not in allowed:
            found.append((name, f"{answers[name]!r} is not one of {allowed}"))
    for name in BOOLEANS:
        if not isinstance(answers[name], bool):
            found.append((name, f"{answers[name]!r} is not yes or no"))
    return found


def main(answers: dict) -> int:
    found = problems(answers)
    if not found:
        return 0
    name, message = found[0]
    print(f"ERROR: {name}: {message}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(json.loads({{cookiecutter | jsonify | python_string}})))
