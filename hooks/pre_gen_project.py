"""Before the bake: refuse answers that would make a broken project.

Each check returns a message, or None when the answer is fine. On the first
bad answer the hook prints one line naming the variable and exits with status
1; cookiecutter then removes the folder it created for this bake (and leaves
alone a folder that existed before, when asked to overwrite one).

Cookiecutter itself refuses an answer outside a choice or yes/no variable
before this hook runs, so only the free-text answers are checked here.

A slug holding a path (`a/b`, `x/../y`) makes cookiecutter create every
missing folder along it, not only the project folder, before this hook runs;
on failure it removes the project folder alone. The hook removes the others
(see `made_folders` and `remove_made_folders`).
"""

import json
import os
import re
import sys
import time
from pathlib import Path

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
    return found


def made_folders(output_dir: Path, slug: str, project: Path) -> list[Path]:
    """The folders cookiecutter made along `slug` besides `project`, deepest first.

    Cookiecutter makes `output_dir/slug` with `mkdir(parents=True)`, so each
    missing folder along the path (`a` for `a/b`, `x` for `x/../y`) comes
    into being just before the project folder. Only folders strictly inside
    the output folder count, and only those made together with the project
    folder: a new folder was last accessed when it was made, no more than a
    second before the project folder was; a folder that existed before keeps
    an older access time (making a folder inside it changes its modification
    time, not its access time). Nothing is listed before these times are read.
    """
    output = Path(os.path.realpath(output_dir))
    project = Path(os.path.realpath(project))
    made_at = project.stat().st_atime_ns
    if time.time_ns() - made_at > 60 * 1_000_000_000:
        return []  # an older project folder (cookiecutter -f): nothing was made
    parts = Path(slug).parts
    found = set()
    for depth in range(1, len(parts)):
        folder = Path(os.path.realpath(output_dir.joinpath(*parts[:depth])))
        if folder == project or output not in folder.parents:
            continue
        try:
            accessed = folder.stat().st_atime_ns
        except OSError:
            continue
        if folder.is_dir() and 0 <= made_at - accessed <= 1_000_000_000:
            found.add(folder)
    return sorted(found, key=lambda folder: len(folder.parts), reverse=True)


def remove_empty(folders: list[Path]) -> list[Path]:
    """Remove each folder that is empty (deepest first); return those left."""
    left = []
    for folder in folders:
        try:
            folder.rmdir()
        except FileNotFoundError:
            pass
        except OSError:
            left.append(folder)
    return left


def remove_made_folders(answers: dict, project: Path) -> None:
    """Remove the folders a slug holding a path made beside the project folder.

    Those off the project folder's path (`x` for `x/../y`) go now. Those
    holding it (`a` for `a/b`) can only go once cookiecutter has removed the
    project folder, after this hook exits: a forked child waits for that (or
    for cookiecutter to exit, or 10 s), then removes them if they are empty.
    The child keeps the hook's output streams open, so a caller that reads
    cookiecutter's output to the end also waits for it.
    """
    if "_output_dir" not in answers:
        return
    output_dir, slug = Path(answers["_output_dir"]), str(answers["project_slug"])
    left = remove_empty(made_folders(output_dir, slug, project))
    if not left or not hasattr(os, "fork"):
        return
    cookiecutter = os.getppid()
    if os.fork() != 0:
        return
    # The child: no return to the hook's code, no exit handlers, no flushing.
    try:
        deadline = time.monotonic() + 10
        while project.exists() and alive(cookiecutter) and time.monotonic() < deadline:
            time.sleep(0.01)
        if not project.exists():
            remove_empty(left)
    finally:
        os._exit(0)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def main(answers: dict, project: Path | None = None) -> int:
    found = problems(answers)
    if not found:
        return 0
    name, message = found[0]
    print(f"ERROR: {name}: {message}", file=sys.stderr)
    if project is not None:
        remove_made_folders(answers, project)
    return 1


if __name__ == "__main__":
    answers = json.loads({{cookiecutter | jsonify | python_string}})
    sys.exit(main(answers, Path.cwd()))
