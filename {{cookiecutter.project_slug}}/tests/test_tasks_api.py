"""The task API: POST /tasks, GET and DELETE /tasks/<id>."""

import json
import time
import uuid

import pytest
from conftest import make_current

from app import create_app
from app.config import BaseConfig
from app.models import Job, db
from app.tasks.progress import cancel_key, long_task


def test_start_answers_202_with_where_to_follow(client):
    """A task starts at once; the answer says where to follow it."""
    response = client.post("/tasks", json={"total": 3, "delay": 0})
    assert response.status_code == 202
    body = response.get_json()
    assert body["state"] == "PENDING"
    assert response.headers["Location"] == body["status_url"] == f"/tasks/{body['id']}"


def test_start_takes_an_empty_body(client):
    """Every field is optional."""
    assert client.post("/tasks").status_code == 202


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ('{"total": 0}', "total"),
        ('{"total": 10001}', "total"),
        ('{"total": 2.5}', "total"),
        ('{"total": "5"}', "total"),
        ('{"total": true}', "total"),
        ('{"delay": -1}', "delay"),
        ('{"delay": 11}', "delay"),
        ('{"delay": NaN}', "delay"),
        ('{"delay": null}', "delay"),
        ('{"colour": "red"}', "colour"),
        ("[1, 2]", "JSON object"),
        ("not json", "JSON object"),
        ("[" * 50_000, "JSON object"),
    ],
)
def test_bad_body_is_a_400_naming_the_field(client, body, field):
    """A bad body gets a JSON error that names what is wrong."""
    response = client.post("/tasks", data=body, content_type="application/json")
    assert response.status_code == 400
    assert field in response.get_json()["error"]


def test_oversized_body_is_refused(client):
    """Bodies beyond the size limit are refused before they are read."""
    response = client.post("/tasks", data="x" * 100_000)
    assert response.status_code == 413
    assert "error" in response.get_json()


@pytest.mark.parametrize("method", ["get", "delete"])
def test_unknown_task_id_is_404(client, method):
    """Celery calls any unknown id PENDING; the API knows which ids it issued."""
    response = getattr(client, method)(f"/tasks/{uuid.uuid4()}")
    assert response.status_code == 404
    assert "error" in response.get_json()


def test_status_of_a_queued_task(client):
    """A task no worker has taken yet is PENDING, progress unknown."""
    task_id = client.post("/tasks").get_json()["id"]
    body = client.get(f"/tasks/{task_id}").get_json()
    assert body == {
        "id": task_id,
        "state": "PENDING",
        "current": None,
        "total": None,
        "result": None,
        "error": None,
    }


def test_failure_shows_no_exception_text(client):
    """A failed task's answer says it failed, and nothing of the exception."""
    task_id = client.post("/tasks").get_json()["id"]
    long_task.backend.mark_as_failure(task_id, ValueError("secret detail"))
    body = client.get(f"/tasks/{task_id}").get_json()
    assert body["state"] == "FAILURE"
    assert body["error"] == "The task failed."
    assert "secret" not in json.dumps(body)


def test_progress_rises_to_success(live_client):
    """A real worker reports each step, then SUCCESS with current == total."""
    task_id = live_client.post("/tasks", json={"total": 5, "delay": 0.1}).json["id"]
    seen = poll(live_client, task_id, until={"SUCCESS"})
    steps = [body["current"] for body in seen if body["state"] == "PROGRESS"]
    assert steps == sorted(steps)
    assert seen[-1]["current"] == seen[-1]["total"] == 5
    assert seen[-1]["result"] == {"current": 5, "total": 5}


def test_delete_stops_a_running_task(live_client):
    """A cancelled task stops before its end and ends REVOKED."""
    task_id = live_client.post("/tasks", json={"total": 100, "delay": 0.1}).json["id"]
    poll(live_client, task_id, until={"PROGRESS"})
    assert live_client.delete(f"/tasks/{task_id}").status_code == 202
    final = poll(live_client, task_id, until={"REVOKED", "SUCCESS"})[-1]
    assert final["state"] == "REVOKED"
    assert final["error"] is None


def poll(client, task_id: str, until: set[str], timeout: float = 20) -> list[dict]:
    """GET the task's status until its state is in `until`; all answers seen."""
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = client.get(f"/tasks/{task_id}")
        assert response.status_code == 200
        seen.append(response.get_json())
        if seen[-1]["state"] in until:
            return seen
        time.sleep(0.05)
    raise AssertionError(f"state never reached {until}: last seen {seen[-1]}")


def test_a_task_is_followed_until_its_result_expires(database_url):
    """A task that never ran (purged from the queue) reads PENDING until its
    id expires with the result lifetime; then it is a 404, and the page
    stops following it."""
    settings = {
        "SQLALCHEMY_DATABASE_URI": database_url,
        "CELERY": {**BaseConfig.CELERY, "result_expires": 1},
    }
    client = make_current(create_app("testing", settings)).test_client()
    status_url = client.post("/tasks").get_json()["status_url"]
    assert client.get(status_url).get_json()["state"] == "PENDING"
    time.sleep(2.1)
    assert client.get(status_url).status_code == 404


def jobs(app) -> int:
    with app.app_context():
        return db.session.query(Job).count()


@pytest.mark.parametrize("method", ["get", "delete"])
def test_another_clients_task_is_a_404_like_an_unknown_id(app, method):
    """Holding an id is not owning it: ids show up in logs and shared URLs."""
    ada, bob = app.test_client(), app.test_client()
    task_id = ada.post("/tasks").get_json()["id"]
    bob.get("/tasks")  # bob has a session of his own
    response = getattr(bob, method)(f"/tasks/{task_id}")
    assert response.status_code == 404
    unknown = getattr(bob, method)("/tasks/unknown").get_json()["error"]
    assert response.get_json()["error"] == unknown.replace("unknown", task_id)
    assert ada.get(f"/tasks/{task_id}").status_code == 200
    with app.app_context():
        assert long_task.backend.get(cancel_key(task_id)) is None


def sets_a_session_cookie(response) -> bool:
    cookies = response.headers.getlist("Set-Cookie")
    return any(cookie.startswith("session=") for cookie in cookies)


def test_the_page_gives_its_browser_an_id_before_its_script_asks(client):
    """The page's script lists the browser's earlier tasks while its user
    may already start one: both requests leave before either answer is back.
    Were the browser still without an id, each answer would hand out one of
    its own, and the one that came last would orphan the task started (a
    404 for each poll). With the id set by the page, neither sets another."""
    assert sets_a_session_cookie(client.get("/"))
    for answer in (client.get("/tasks"), client.post("/tasks"), client.get("/")):
        assert answer.status_code in {200, 202}
        assert not sets_a_session_cookie(answer)


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", None]
)
def test_a_body_not_declared_json_is_a_415_and_queues_nothing(
    app, client, content_type
):
    """A form or `text/plain` post needs no preflight: it must not start work."""
    response = client.post("/tasks", data='{"total": 3}', content_type=content_type)
    assert response.status_code == 415
    assert "application/json" in response.get_json()["error"]
    assert jobs(app) == 0


CROSS_SITE = [
    {"Sec-Fetch-Site": "cross-site"},
    {"Origin": "https://evil.example"},
    {"Origin": "null"},
    {"Sec-Fetch-Site": "same-origin", "Origin": "https://evil.example"},
]


@pytest.mark.parametrize("headers", CROSS_SITE)
def test_a_cross_site_request_is_a_403_and_changes_nothing(app, client, headers):
    """Another site's page cannot start a task, nor cancel one, in your name."""
    task_id = client.post("/tasks").get_json()["id"]
    response = client.post("/tasks", json={}, headers=headers)
    assert response.status_code == 403
    assert "error" in response.get_json()
    assert client.delete(f"/tasks/{task_id}", headers=headers).status_code == 403
    assert jobs(app) == 1
    with app.app_context():
        assert long_task.backend.get(cancel_key(task_id)) is None


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "same-origin", "Origin": "http://localhost"},
        {"Origin": "http://localhost"},  # APP_BASE_URL's origin
        {"Sec-Fetch-Site": "none"},  # typed in the address bar
        {},  # curl, scripts: no browser, no cookie to abuse
    ],
)
def test_the_apps_own_pages_and_other_clients_start_tasks(client, headers):
    assert client.post("/tasks", json={}, headers=headers).status_code == 202


def test_ids_and_sessions_outlive_a_rotated_key(database_url):
    """With the old key in SECRET_KEY_FALLBACKS, a browser keeps its tasks."""
    settings = {"SQLALCHEMY_DATABASE_URI": database_url, "SECRET_KEY": "key-1"}
    before = make_current(create_app("testing", settings)).test_client()
    task_id = before.post("/tasks").get_json()["id"]
    cookie = before.get_cookie("session").value
    rotated = {**settings, "SECRET_KEY": "key-2", "SECRET_KEY_FALLBACKS": ["key-1"]}
    forgotten = {**rotated, "SECRET_KEY_FALLBACKS": []}
    for keys, status in [(rotated, 200), (forgotten, 404)]:
        after = make_current(create_app("testing", keys)).test_client()
        after.set_cookie("session", cookie)
        assert after.get(f"/tasks/{task_id}").status_code == status
        listed = [task["id"] for task in after.get("/tasks").get_json()["tasks"]]
        assert listed == ([task_id] if status == 200 else [])


def test_a_cancel_refused_to_another_client_leaves_the_task_running(
    live_client, live_app
):
    """The owner's task runs to its end whatever another client asks."""
    task_id = live_client.post("/tasks", json={"total": 5, "delay": 0.1}).json["id"]
    other = live_app.test_client()
    assert other.delete(f"/tasks/{task_id}").status_code == 404
    final = poll(live_client, task_id, until={"SUCCESS", "REVOKED"})[-1]
    assert final["state"] == "SUCCESS"


def test_a_result_store_that_is_down_is_a_503_and_leaves_no_job(database_url):
    """Sending a task subscribes to its result: with the store away, that
    fails within seconds, as a 503, never a 500."""
    settings = {
        "SQLALCHEMY_DATABASE_URI": database_url,
        "CELERY_RESULT_BACKEND": "redis://127.0.0.1:1/0",
    }
    app = make_current(create_app("testing", settings))
    started = time.monotonic()
    response = app.test_client().post("/tasks")
    assert time.monotonic() - started < 10
    assert response.status_code == 503
    assert "task queue" in response.get_json()["error"]
    assert jobs(app) == 0
