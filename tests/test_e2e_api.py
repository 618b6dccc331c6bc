"""The task API of a baked project, end to end: Redis, worker, gunicorn.

The project runs with `APP_ENV=production`, configured by environment
variables only, as a deployment would run it.
"""

import uuid

import pytest
import requests
from stack import Stack, poll_task
from support import http_delete, http_post

pytestmark = pytest.mark.e2e


def start(stack: Stack, **body) -> requests.Response:
    return http_post(stack.url("/tasks"), json=body, timeout=15)


def test_progress_rises_to_total_then_success(stack):
    """Progress only goes up, ends at total, and the task ends SUCCESS."""
    response = start(stack, total=8, delay=0.1)
    assert response.status_code == 202
    body = response.json()
    assert response.headers["Location"] == body["status_url"]
    seen = poll_task(
        stack.url(body["status_url"]), logs=stack.logs, until={"SUCCESS", "FAILURE"}
    )
    progress = [answer["current"] for answer in seen if answer["state"] == "PROGRESS"]
    assert progress, "no PROGRESS state was ever seen"
    assert progress == sorted(progress)
    final = seen[-1]
    assert final["state"] == "SUCCESS"
    assert final["current"] == final["total"] == 8
    assert final["error"] is None


def test_several_tasks_run_at_once(stack):
    """Two tasks started together both finish."""
    urls = [start(stack, total=3, delay=0.1).json()["status_url"] for _ in range(2)]
    for status_url in urls:
        assert (
            poll_task(stack.url(status_url), logs=stack.logs, until={"SUCCESS"})[-1][
                "current"
            ]
            == 3
        )


def test_delete_revokes_a_running_task(stack):
    """DELETE stops the task before its end; its state becomes REVOKED."""
    status_url = start(stack, total=200, delay=0.1).json()["status_url"]
    poll_task(stack.url(status_url), logs=stack.logs, until={"PROGRESS"})
    response = http_delete(stack.url(status_url), timeout=15)
    assert response.status_code == 202
    final = poll_task(
        stack.url(status_url), logs=stack.logs, until={"REVOKED", "SUCCESS", "FAILURE"}
    )[-1]
    assert final["state"] == "REVOKED"


@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_unknown_id_is_404(stack, method):
    """An id the app never issued is 404 with a JSON error."""
    response = requests.request(method, stack.url(f"/tasks/{uuid.uuid4()}"), timeout=15)
    assert response.status_code == 404
    assert set(response.json()) == {"error"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ('{"total": 0}', "total"),
        ('{"total": 10001}', "total"),
        ('{"total": "ten"}', "total"),
        ('{"delay": -0.5}', "delay"),
        ('{"delay": 10.5}', "delay"),
        ('{"delay": "slow"}', "delay"),
        ('{"speed": 1}', "speed"),
        ("[]", "JSON object"),
        ("{not json", "JSON object"),
    ],
)
def test_bad_body_is_400_naming_the_field(stack, body, field):
    """Each bad body gets a JSON 400 that names what is wrong, no traceback."""
    response = http_post(
        stack.url("/tasks"),
        data=body,
        headers={"Content-Type": "application/json"},
        timeout=15,
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert field in error
    assert "Traceback" not in response.text
