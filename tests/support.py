"""Helpers for the template's tests: ports, waiting, processes, the baked venv."""

import contextlib
import hashlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import requests
from cookiecutter.main import cookiecutter
from filelock import FileLock

REPO = Path(__file__).resolve().parent.parent
TEMPLATE_PROJECT = REPO / "{{cookiecutter.project_slug}}"
# Variables a developer's shell may hold that would change a baked project.
PROJECT_VARIABLES = (
    "APP_ENV",
    "SECRET_KEY",
    "FLASK_APP",
    "FLASK_DEBUG",
    "DATABASE_URL",
    "TEST_DATABASE_URL",
    "APP_BASE_URL",
    "SECRET_KEY_FALLBACKS",
    "REMAP_SIGTERM",
)
UNLIMITED = {
    "TASKS_RATE_LIMIT": "100000/minute",
    "REGISTER_RATE_LIMIT": "100000/minute",
    "TASK_QUEUE_LIMIT": "100000",
}
# The machine's PostgreSQL server (scripts/test starts one when it is missing);
# tests create a database of their own on it and drop it after.
POSTGRES_HOST, POSTGRES_PORT, POSTGRES_USER = "127.0.0.1", 5432, "postgres"


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_is_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((host, port)) == 0


def wait_until(
    condition: Callable[[], object],
    timeout: float,
    message: str | Callable[[], str] = "",
    interval: float = 0.1,
) -> None:
    """Call `condition` until it is true; fail with `message` after `timeout` s.

    A callable `message` is called only then, so that logs it reads are
    the processes' logs at the failure, not at the start of the wait.
    """
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            text = message() if callable(message) else message
            raise AssertionError(f"gave up after {timeout} s: {text}")
        time.sleep(interval)


def wait_for_port(host: str, port: int, timeout: float) -> None:
    wait_until(lambda: port_is_open(host, port), timeout, f"{host}:{port} closed")


class ManagedProcess:
    """A subprocess in a session of its own, its output in a log file.

    `stop()` ends the whole session (children included), so no test leaves a
    process behind.
    """

    def __init__(
        self, command: Sequence[str], cwd: Path, env: dict[str, str], log: Path
    ) -> None:
        self.command, self.cwd, self.env, self.log = list(command), cwd, env, log
        self.process: subprocess.Popen | None = None

    def start(self) -> "ManagedProcess":
        with self.log.open("wb") as output:
            self.process = subprocess.Popen(
                self.command,
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def send_signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def wait(self, timeout: float) -> int:
        return self.process.wait(timeout)

    def stop(self, grace: float = 15) -> None:
        """SIGTERM the session, then SIGKILL whatever is left after `grace` s."""
        if self.process is None:
            return
        self.signal_session(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(grace)
        self.signal_session(signal.SIGKILL)
        self.process.wait()

    def kill_children(self) -> None:
        """SIGKILL the process's direct children (a worker's pool processes)."""
        children = subprocess.run(
            ["pgrep", "-P", str(self.process.pid)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        for pid in children:
            os.kill(int(pid), signal.SIGKILL)

    def signal_session(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signum)

    def __enter__(self) -> "ManagedProcess":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class ProjectVenv:
    """The one virtualenv every baked project runs in (dependencies only)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.python = path / "bin" / "python"

    def bin(self, name: str) -> Path:
        return self.path / "bin" / name


# How the shared venv picks versions: those of the bake's constraints.txt
# (what its Dockerfile and CI install), the lowest its pyproject.toml allows
# for its direct dependencies, or the newest it allows.
VERSIONS = ("pinned", "lowest", "newest")


def shared_project_venv(
    cache: Path, python: str | None = None, versions: str = "pinned"
) -> ProjectVenv:
    """Build (once, shared by parallel workers) the venv for baked projects.

    Its name holds a hash of the template's pyproject.toml and
    constraints.txt, so a change of dependencies builds a new one; a
    `newest` venv is built anew each day. A marker file written last tells a
    finished venv from one whose build was interrupted.

    It runs on `python`, by default the interpreter running the tests;
    another interpreter gets a venv (and a lock) of its own, named after its
    version, its path and full version also in the hash.
    """
    assert versions in VERSIONS, versions
    digest = hashlib.sha256()
    for name in ("pyproject.toml", "constraints.txt"):
        digest.update((TEMPLATE_PROJECT / name).read_bytes())
    # How build_venv builds it (a venv built otherwise is not reused).
    digest.update(b"bytecode compiled")
    name = "baked-venv" if versions == "pinned" else f"baked-venv-{versions}"
    if versions == "newest":
        digest.update(time.strftime("%Y-%m-%d").encode())
    if python is not None:
        version = interpreter_version(python)
        digest.update(f"{os.path.realpath(python)} {version}".encode())
        name += "-py" + ".".join(version.split(".")[:2])
    venv = ProjectVenv(cache / f"{name}-{digest.hexdigest()[:12]}")
    finished = venv.path / "finished"
    cache.mkdir(parents=True, exist_ok=True)
    with FileLock(str(cache / f"{name}.lock")):
        if not finished.exists():
            shutil.rmtree(venv.path, ignore_errors=True)
            build_venv(venv, python or sys.executable, versions)
            finished.touch()
    return venv


def interpreter_version(python: str) -> str:
    """The full version of the interpreter `python`, such as "3.13.0"."""
    return subprocess.run(
        [python, "-c", "import platform; print(platform.python_version())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def build_venv(venv: ProjectVenv, python: str, versions: str) -> None:
    """Install the dependencies of a bake with every option on, not the bake.

    uv (from the test tools) installs them: as pip would, much faster.
    """
    uv = str(Path(sys.executable).parent / "uv")
    with tempfile.TemporaryDirectory() as scratch:
        bake = Path(
            cookiecutter(
                str(REPO),
                no_input=True,
                output_dir=scratch,
                extra_context={"use_celery_beat": True, "use_flower": True},
            )
        )
        subprocess.run(
            [uv, "venv", "-q", "--python", python, str(venv.path)], check=True
        )
        choice = {
            "pinned": ["--constraint", str(bake / "constraints.txt")],
            "lowest": ["--resolution", "lowest-direct"],
            "newest": [],
        }[versions]
        # Compiled now: with PYTHONDONTWRITEBYTECODE set (as on CI machines)
        # every process the tests start would compile SQLAlchemy, Celery and
        # the rest again, about 1.5 s of each start.
        install = [uv, "pip", "install", "-q", "--compile-bytecode"]
        install += ["--python", str(venv.python)]
        subprocess.run([*install, *choice, f"{bake}[dev]"], check=True)
        # Every bake's package is called `app`: tests run bakes from their
        # own folder, so the venv keeps the dependencies only.
        uninstall = [uv, "pip", "uninstall", "-q", "--python", str(venv.python)]
        subprocess.run([*uninstall, bake.name], check=True)


def baked(cookies, **options) -> Path:
    """Bake the template with `options` (pytest-cookies); the project's folder."""
    result = cookies.bake(extra_context=options)
    assert result.exit_code == 0, result.exception
    assert result.exception is None
    return Path(result.project_path)


def clean_env(venv: ProjectVenv, project: Path, **settings: str) -> dict[str, str]:
    """The environment for a baked project's processes: no stray settings."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in PROJECT_VARIABLES
        and not name.startswith(("CELERY_", "MAIL_", "PYTEST_", "COV_"))
    }
    env["PATH"] = f"{venv.path / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(project)
    env["PYTHONUNBUFFERED"] = "1"
    # Tests start tasks by the hundred from one address: the limits of an
    # anonymous endpoint are raised here, through the project's own
    # variables, and lowered again by the tests of the limits.
    env.update(UNLIMITED)
    env.update(settings)
    return env


def production_env(venv: ProjectVenv, project: Path, **settings: str) -> dict[str, str]:
    """`clean_env` for a production deployment: APP_ENV and a fresh secret."""
    return clean_env(
        venv,
        project,
        APP_ENV="production",
        SECRET_KEY=secrets.token_urlsafe(48),
        # Replaced by the web server's own address when it starts (stack.py).
        APP_BASE_URL="http://127.0.0.1",
        **settings,
    )


def run_project(
    project: Path,
    venv: ProjectVenv,
    *command: str,
    env: dict[str, str] | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess:
    """Run `command` in the baked project's folder and venv; assert it passes."""
    program = str(venv.bin(command[0])) if venv.bin(command[0]).exists() else command[0]
    completed = subprocess.run(
        [program, *command[1:]],
        cwd=project,
        env=clean_env(venv, project, **(env or {})),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert completed.returncode == 0, (
        f"{' '.join(command)} exited {completed.returncode}\n"
        f"--- stdout ---\n{completed.stdout[-6000:]}\n"
        f"--- stderr ---\n{completed.stderr[-3000:]}"
    )
    return completed


def run_project_tests(
    project: Path, venv: ProjectVenv, *arguments: str, env: dict | None = None
) -> subprocess.CompletedProcess:
    """Run the baked project's own test suite (pytest `arguments`); assert it passes."""
    return run_project(
        project, venv, "python", "-m", "pytest", "-q", *arguments, env=env, timeout=600
    )


def private_redis(
    folder: Path,
    port: int | None = None,
    persistent: bool = False,
    options: Sequence[str] = (),
) -> ManagedProcess:
    """A redis-server on a free (or given) port, its files in `folder`.

    `persistent` turns on the append-only file, synced on every write, as the
    generated project's docs advise for production. `options` are more
    command-line settings, such as `--replicaof HOST PORT`.
    """
    executable = shutil.which("redis-server")
    assert executable, "redis-server is not installed: scripts/test installs it"
    port = port or free_port()
    persistence = ["--appendonly", "yes", "--appendfsync", "always"]
    process = ManagedProcess(
        [executable, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
        + (persistence if persistent else ["--appendonly", "no"])
        + ["--dir", str(folder), *options],
        cwd=folder,
        env=dict(os.environ),
        log=folder / f"redis-{time.monotonic_ns()}.log",
    ).start()
    wait_for_port("127.0.0.1", port, timeout=10)
    process.port = port
    process.url = f"redis://127.0.0.1:{port}/0"
    return process


def postgres_url(database: str, port: int = POSTGRES_PORT) -> str:
    """The URL a baked project takes for `database` on the test server."""
    return f"postgresql://{POSTGRES_USER}@{POSTGRES_HOST}:{port}/{database}"


@contextlib.contextmanager
def fresh_database() -> Iterator[str]:
    """A new, empty PostgreSQL database; dropped afterwards. Yields its name."""
    assert port_is_open(POSTGRES_HOST, POSTGRES_PORT), (
        f"PostgreSQL is not running on {POSTGRES_HOST}:{POSTGRES_PORT}: "
        "scripts/test starts it"
    )
    name = f"bake_{uuid.uuid4().hex[:16]}"
    admin = postgres_url("postgres")
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class PlainHTTPCookieJar(requests.cookies.RequestsCookieJar):
    """Sends `Secure` cookies over http:// too: the stack has no TLS.

    Production marks the session cookie `Secure`; a browser behind the TLS
    of a real deployment sends it back, and so does this jar.
    """

    def set_cookie(self, cookie, *args, **kwargs):
        cookie.secure = False
        return super().set_cookie(cookie, *args, **kwargs)


def browser() -> requests.Session:
    """A client with a cookie jar of its own, as one browser."""
    session = requests.Session()
    session.cookies = PlainHTTPCookieJar()
    return session


@cache
def browser_of(origin: str) -> requests.Session:
    """The test process as one browser of the app at `origin`, with its cookies.

    Tasks belong to the browser that started them: a test follows the tasks
    it started through the same cookie jar, one per running app.
    """
    return browser()


def client_of(url: str) -> requests.Session:
    """The browser of the app that `url` belongs to (see `browser_of`)."""
    parts = urlsplit(url)
    return browser_of(f"{parts.scheme}://{parts.netloc}")


def http_get(url: str, **options) -> requests.Response:
    return client_of(url).get(url, **options)


def http_post(url: str, **options) -> requests.Response:
    return client_of(url).post(url, **options)


def http_delete(url: str, **options) -> requests.Response:
    return client_of(url).delete(url, **options)
