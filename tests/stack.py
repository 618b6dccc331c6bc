"""A baked project running for real: Redis, a Celery worker, gunicorn.

The end-to-end tests drive it over HTTP (and from a browser) exactly as a
user's deployment runs: `celery -A celery_worker.celery worker` and
`gunicorn wsgi:app`, configured through environment variables only.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import requests
from support import (
    ManagedProcess,
    client_of,
    free_port,
    run_project,
    wait_for_port,
    wait_until,
)


@dataclass
class Stack:
    """The processes of one running project and how to reach them."""

    project: Path
    venv: object
    env: dict[str, str]
    log_dir: Path
    processes: dict[str, ManagedProcess] = field(default_factory=dict)
    base_url: str = ""

    def migrate(self) -> None:
        """`python manage.py db upgrade`: the schema, as a deployment builds it."""
        run_project(
            self.project,
            self.venv,
            "python",
            "manage.py",
            "db",
            "upgrade",
            env=self.env,
        )

    def start_worker(self, name: str = "worker", *args: str) -> ManagedProcess:
        """Start `celery worker` and wait until it is ready for tasks."""
        command = [str(self.venv.bin("celery")), "-A", "celery_worker.celery"]
        command += ["worker", "-l", "INFO", "--hostname", f"{name}@%h", *args]
        process = self.start(name, command)
        wait_until(
            lambda: " ready." in process.log_text(),
            timeout=60,
            message=f"{name} did not become ready",
        )
        return process

    def start_web(self, workers: int = 2) -> ManagedProcess:
        """Start gunicorn on a free port and wait until it answers."""
        port = free_port()
        self.base_url = f"http://127.0.0.1:{port}"
        # Links in mail point at the address users reach: this one.
        self.env["APP_BASE_URL"] = self.base_url
        command = [str(self.venv.bin("gunicorn")), "--bind", f"127.0.0.1:{port}"]
        command += ["--workers", str(workers), "--timeout", "30", "wsgi:app"]
        process = self.start("web", command)
        wait_for_port("127.0.0.1", port, timeout=60)
        return process

    def start(self, name: str, command: list[str]) -> ManagedProcess:
        process = ManagedProcess(
            command, cwd=self.project, env=self.env, log=self.log_dir / f"{name}.log"
        )
        process.start()
        self.processes[name] = process
        return process

    def stop(self) -> None:
        for process in reversed(list(self.processes.values())):
            process.stop()
        self.processes.clear()

    def url(self, path: str) -> str:
        return self.base_url + path

    def logs(self) -> str:
        """Every process's log, for a failing test's message."""
        return "\n".join(
            f"--- {name} ---\n{process.log_text()[-4000:]}"
            for name, process in self.processes.items()
        )


def start_task(stack: Stack, client: requests.Session | None = None, **body) -> str:
    """POST /tasks from `client` (default: the test process's browser); the id."""
    client = client or client_of(stack.base_url)
    response = client.post(stack.url("/tasks"), json=body, timeout=15)
    assert response.status_code == 202, response.text
    return response.json()["id"]


def poll_task(
    url: str,
    until: set[str],
    logs: Callable[[], str],
    timeout: float = 60,
    outage: bool = False,
    client: requests.Session | None = None,
) -> list[dict]:
    """GET a task's status at `url` (as `client`, by default the test
    process's browser) until its state is in `until`.

    Returns every answer seen; on time-out the failure shows `logs()`. With
    `outage`, a 503 (the store on its way back) counts as "not yet".
    """
    seen: list[dict] = []
    client = client or client_of(url)

    def reached() -> bool:
        response = client.get(url, timeout=10)
        if outage and response.status_code == 503:
            return False
        assert response.status_code == 200, response.text
        seen.append(response.json())
        return seen[-1]["state"] in until

    wait_until(
        reached,
        timeout=timeout,
        interval=0.05,
        message=lambda: f"state never reached {until}; last {seen[-1:]}\n{logs()}",
    )
    return seen
