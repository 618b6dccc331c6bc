"""Limits: per-client rate limits, a full queue, work too long for the broker."""

import time

import pytest
from conftest import csrf_token, make_current
from flask import Flask
from werkzeug.exceptions import BadRequest

from app import create_app
from app.config import BaseConfig
from app.forms.tasks import time_limits
from app.platform import limits


@pytest.fixture
def limited_app(database_url: str) -> Flask:
    """The app with rate limits on, counted in memory."""
    settings = {
        "SQLALCHEMY_DATABASE_URI": database_url,
        "RATELIMIT_ENABLED": True,
        "TASKS_RATE_LIMIT": "3/minute",
        "REGISTER_RATE_LIMIT": "2/minute",
    }
    return make_current(create_app("testing", settings))


def test_too_many_tasks_is_a_json_429_with_retry_after(limited_app):
    """The fourth POST in a minute is refused, saying when to come back."""
    client = limited_app.test_client()
    for _ in range(3):
        assert client.post("/tasks").status_code == 202
    response = client.post("/tasks")
    assert response.status_code == 429
    assert set(response.get_json()) == {"error"}
    assert 1 <= int(response.headers["Retry-After"]) <= 61


def test_polls_and_lists_are_not_counted(limited_app):
    """Only starting work counts: following it never does."""
    client = limited_app.test_client()
    status_url = client.post("/tasks").get_json()["status_url"]
    for _ in range(10):
        assert client.get(status_url).status_code == 200
        assert client.get("/tasks").status_code == 200


def test_too_many_registrations_is_an_html_429(limited_app):
    """The form is a page: its 429 is a page too, with Retry-After."""
    client = limited_app.test_client()
    for _ in range(2):
        data = {"email": "ada@example.com", "csrf_token": csrf_token(client)}
        assert client.post("/account/register", data=data).status_code == 302
    data = {"email": "ada@example.com", "csrf_token": csrf_token(client)}
    response = client.post("/account/register", data=data)
    assert response.status_code == 429
    assert response.mimetype == "text/html"
    assert int(response.headers["Retry-After"]) >= 1


def test_a_bad_rate_limit_stops_the_app_naming_it(database_url):
    """A typo in TASKS_RATE_LIMIT fails at start, not at the first request."""
    settings = {"SQLALCHEMY_DATABASE_URI": database_url, "TASKS_RATE_LIMIT": "lots"}
    with pytest.raises(RuntimeError, match=r"^TASKS_RATE_LIMIT='lots' is not"):
        create_app("testing", settings)


def test_a_full_queue_is_a_503_with_retry_after(database_url):
    """Past TASK_QUEUE_LIMIT waiting tasks, POST /tasks stops queueing more."""
    settings = {
        "SQLALCHEMY_DATABASE_URI": database_url,
        # A queue of its own: the in-memory broker is shared by the process.
        "CELERY": {**BaseConfig.CELERY, "task_default_queue": "queue-limit-test"},
        "TASK_QUEUE_LIMIT": 2,
    }
    client = make_current(create_app("testing", settings)).test_client()
    for _ in range(3):
        assert client.post("/tasks").status_code == 202
    time.sleep(1.1)  # the queue length is read at most once a second
    response = client.post("/tasks")
    assert response.status_code == 503
    assert set(response.get_json()) == {"error"}
    assert response.headers["Retry-After"] == "10"


def app_on_broker(database_url: str, broker_url: str, visibility_timeout: int):
    """The testing app as if its broker were `broker_url` (nothing is sent)."""
    settings = {
        "SQLALCHEMY_DATABASE_URI": database_url,
        "CELERY_VISIBILITY_TIMEOUT": visibility_timeout,
    }
    app = create_app("testing", settings)
    app.config["CELERY_BROKER_URL"] = broker_url
    return app


@pytest.mark.parametrize(
    ("broker_url", "visibility_timeout", "expected", "limit"),
    [
        ("redis://localhost:6379/0", 3600, 3000, 3600),
        ("redis://localhost:6379/0", 3600, 3597, 3600),
        ("redis://localhost:6379/0", 3600, 3598, None),
        ("redis://localhost:6379/0", 30, 20, 30),
        ("redis://localhost:6379/0", 30, 50, None),
        ("amqp://guest@localhost//", 3600, 1797, 1800),
        ("amqp://guest@localhost//", 3600, 2000, None),
        ("memory://", 30, 100_000, float("inf")),
    ],
)
def test_work_must_end_before_the_broker_would_hand_it_out_again(
    database_url, broker_url, visibility_timeout, expected, limit
):
    """The hard time limit stays under Redis's visibility timeout or
    RabbitMQ's consumer timeout; longer work is refused (limit None here)."""
    app = app_on_broker(database_url, broker_url, visibility_timeout)
    with app.app_context():
        if limit is None:
            with pytest.raises(BadRequest, match="total times delay"):
                time_limits(expected)
        else:
            soft, hard = time_limits(expected)
            assert expected < soft < hard < limit


def test_a_task_too_long_for_the_broker_is_a_400_naming_the_fields(database_url):
    """Through the API: the answer names total and delay."""
    app = app_on_broker(database_url, "redis://localhost:6379/0", 30)
    response = app.test_client().post("/tasks", json={"total": 100, "delay": 0.5})
    assert response.status_code == 400
    assert "total" in response.get_json()["error"]
    assert "delay" in response.get_json()["error"]


def test_a_proxy_left_unnamed_is_warned_of_once_per_process(
    limited_app, caplog, monkeypatch
):
    """X-Forwarded-For with FORWARDED_PROXIES=0: every user of the proxy
    shares one rate limit, and the log says so, once, naming the setting."""
    limits.warn_once_of_a_proxy.cache_clear()
    client = limited_app.test_client()
    client.get("/tasks")
    assert "FORWARDED_PROXIES" not in caplog.text
    for _ in range(3):
        client.get("/tasks", headers={"X-Forwarded-For": "203.0.113.7"})
    warnings = [r for r in caplog.records if "FORWARDED_PROXIES" in r.getMessage()]
    assert len(warnings) == 1
    assert warnings[0].levelname == "WARNING"


def test_a_named_proxy_is_not_warned_of(database_url, caplog):
    app = create_app(
        "testing", {"SQLALCHEMY_DATABASE_URI": database_url, "FORWARDED_PROXIES": 1}
    )
    limits.warn_once_of_a_proxy.cache_clear()
    app.test_client().get("/tasks", headers={"X-Forwarded-For": "203.0.113.7"})
    assert "FORWARDED_PROXIES" not in caplog.text
