"""`python manage.py dev`: the whole project with no broker server at all."""

import re
import signal
import subprocess
import time

import pytest
import requests
from stack import poll_task
from support import (
    ManagedProcess,
    baked,
    clean_env,
    free_port,
    http_get,
    http_post,
    wait_for_port,
    wait_until,
)

pytestmark = pytest.mark.e2e


@pytest.fixture
def dev_server(cookies, project_venv, tmp_path):
    """A fresh default bake running `python manage.py dev` on a free port."""
    project = baked(cookies)
    # No CELERY_BROKER_URL: the embedded broker. No MAIL_SERVER: mail is logged.
    env = clean_env(project_venv, project, APP_ENV="development")
    port = free_port()
    process = ManagedProcess(
        [str(project_venv.python), "manage.py", "dev", "--port", str(port)],
        cwd=project,
        env=env,
        log=tmp_path / "dev.log",
    )
    process.start()
    try:
        wait_for_port("127.0.0.1", port, timeout=60)
        wait_until(
            lambda: "ready." in process.log_text(),
            timeout=60,
            message=process.log_text,
        )
        yield process, f"http://127.0.0.1:{port}", project
    finally:
        process.stop()


def test_dev_runs_everything_without_a_broker_server(dev_server):
    """The page is served, a task runs to SUCCESS, mail goes to the log."""
    process, base_url, project = dev_server
    assert http_get(base_url + "/", timeout=15).status_code == 200

    response = http_post(base_url + "/tasks", json={"total": 3, "delay": 0.1})
    assert response.status_code == 202

    status_url = base_url + response.json()["status_url"]
    final = poll_task(status_url, {"SUCCESS"}, logs=process.log_text)[-1]
    assert final["current"] == 3

    session = requests.Session()
    page = session.get(base_url + "/account/register", timeout=15).text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)[1]
    session.post(
        base_url + "/account/register",
        data={"email": "ada@example.com", "csrf_token": token},
        timeout=15,
    )
    wait_until(
        lambda: "To: ada@example.com" in process.log_text(),
        timeout=30,
        message=process.log_text,
    )
    assert (project / "instance" / "celery" / "queue").is_dir()


def test_sigint_stops_web_and_worker_leaving_no_process(dev_server):
    """Ctrl-C (SIGINT) ends the command and every process it started."""
    process, _, project = dev_server
    process.send_signal(signal.SIGINT)
    process.wait(timeout=30)
    time.sleep(0.5)
    leftovers = subprocess.run(
        ["pgrep", "-f", str(project / "manage.py")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert leftovers.stdout == "", f"still running: {leftovers.stdout}"
