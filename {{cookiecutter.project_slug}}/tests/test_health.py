"""GET /healthz: web, broker and workers."""


def test_no_worker_is_a_503_naming_it(client):
    """With no worker listening, the check fails and says why."""
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["error"] == "No worker answered."


def test_worker_answering_is_a_200(live_client):
    """With a real worker on a real broker, all is well."""
    response = live_client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json()["workers"] >= 1


def test_unreachable_broker_is_a_503(app):
    """A broker nobody listens on is reported within seconds."""
    app.extensions["celery"].conf.broker_write_url = "redis://127.0.0.1:1/0"
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["broker"] == "down"
