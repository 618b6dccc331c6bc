"""GET /healthz: the web tier's own services, fast, whatever workers do."""

import time

import pytest
from conftest import make_current, private_redis_server
from redis import Redis

from app import create_app

DOWN = {
    "broker": {"CELERY_BROKER_URL": "redis://127.0.0.1:1/0"},
    "result_store": {"CELERY_RESULT_BACKEND": "redis://127.0.0.1:1/0"},
    "database": {"SQLALCHEMY_DATABASE_URI": "postgresql://nobody@127.0.0.1:1/none"},
}


def test_all_services_up_is_a_200_without_any_worker(client):
    """No worker runs here: health is about the web tier, not the workers."""
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {
        "status": "ok",
        "broker": "up",
        "result_store": "up",
        "database": "up",
    }


@pytest.mark.parametrize("service", DOWN)
def test_a_service_down_is_a_503_naming_it_within_seconds(database_url, service):
    """Each unreachable service is named; the others still read "up"."""
    settings = {"SQLALCHEMY_DATABASE_URI": database_url, **DOWN[service]}
    app = make_current(create_app("testing", settings))
    started = time.monotonic()
    response = app.test_client().get("/healthz")
    assert time.monotonic() - started < 10
    assert response.status_code == 503
    body = response.get_json()
    assert service in body["error"]
    assert body[service] == "down"
    assert [name for name in DOWN if body[name] == "down"] == [service]


def test_a_busy_worker_pool_keeps_it_healthy(live_client):
    """With a real worker busy on tasks, the web tier still reads healthy."""
    for _ in range(6):
        live_client.post("/tasks", json={"total": 20, "delay": 0.1})
    response = live_client.get("/healthz")
    assert response.status_code == 200


def test_health_checks_reuse_their_connections(database_url, tmp_path):
    """A load balancer asks every few seconds: each check borrows pooled
    connections to the broker and the result store, never opens new ones."""
    with private_redis_server(tmp_path) as redis:
        settings = {
            "SQLALCHEMY_DATABASE_URI": database_url,
            "CELERY_BROKER_URL": redis.url,
            "CELERY_RESULT_BACKEND": redis.url,
        }
        client = make_current(create_app("testing", settings)).test_client()
        server = Redis.from_url(redis.url)
        assert client.get("/healthz").status_code == 200
        before = server.info("stats")["total_connections_received"]
        for _ in range(50):
            assert client.get("/healthz").status_code == 200
        opened = server.info("stats")["total_connections_received"] - before
    assert opened <= 2
