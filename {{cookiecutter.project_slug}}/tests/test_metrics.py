"""GET /metrics: Prometheus's text format, behind a token when one is set."""

import pytest
from conftest import make_current
from prometheus_client.parser import text_string_to_metric_families

from app import create_app


def samples(client, **headers) -> dict[tuple, float]:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.get_data(as_text=True))
        for sample in family.samples
    }


def value(found: dict, name: str, **labels) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


def test_requests_and_tasks_are_counted_by_route_and_kind(client):
    before = samples(client)
    task_id = client.post("/tasks").get_json()["id"]
    client.get(f"/tasks/{task_id}")
    after = samples(client)
    accepted = "tasks_accepted_total"
    assert value(after, accepted, kind="long_task") == (
        value(before, accepted, kind="long_task") + 1
    )
    polled = {"method": "GET", "route": "/tasks/<task_id>", "status": "200"}
    requests = "http_requests_total"
    assert value(after, requests, **polled) == value(before, requests, **polled) + 1
    assert value(after, "task_queue_depth") >= 0


def test_refused_tasks_are_counted_by_status(database_url):
    settings = {
        "SQLALCHEMY_DATABASE_URI": database_url,
        "RATELIMIT_ENABLED": True,
        "TASKS_RATE_LIMIT": "1/minute",
    }
    client = make_current(create_app("testing", settings)).test_client()
    before = samples(client)
    client.post("/tasks")
    assert client.post("/tasks").status_code == 429
    refused = {"kind": "long_task", "status": "429"}
    name = "tasks_refused_total"
    assert value(samples(client), name, **refused) == value(before, name, **refused) + 1


@pytest.mark.parametrize(
    ("header", "status"),
    [(None, 401), ("Bearer wrong", 401), ("Bearer s3cret", 200)],
)
def test_a_metrics_token_is_asked_for_when_set(database_url, header, status):
    settings = {"SQLALCHEMY_DATABASE_URI": database_url, "METRICS_TOKEN": "s3cret"}
    client = create_app("testing", settings).test_client()
    headers = {"Authorization": header} if header else {}
    response = client.get("/metrics", headers=headers)
    assert response.status_code == status
    if status == 401:
        assert set(response.get_json()) == {"error"}
