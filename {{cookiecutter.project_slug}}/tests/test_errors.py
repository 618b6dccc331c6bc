"""Errors: JSON for the API, a page for people, bugs never swallowed."""

import pytest
from flask import Flask


def test_api_errors_are_json(client):
    """An unknown task id is a JSON 404."""
    response = client.get("/tasks/unknown")
    assert response.status_code == 404
    assert set(response.get_json()) == {"error"}


def test_page_errors_are_html(client):
    """An unknown page is an HTML 404, not JSON."""
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert "Not Found" in response.get_data(as_text=True)


def test_405_keeps_its_allow_header(client):
    """The error's own headers survive: a 405 says which methods are allowed."""
    response = client.put("/tasks")
    assert response.status_code == 405
    assert set(response.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "POST"}
    assert response.is_json


@pytest.fixture
def failing_app(app: Flask) -> Flask:
    """The app with a route that raises, as a bug would."""

    @app.get("/tasks/boom")
    def boom():
        raise ZeroDivisionError("a bug")

    return app


def test_a_bug_propagates_in_tests(failing_app):
    """Tests see the exception itself, not a 500 that hides it."""
    with pytest.raises(ZeroDivisionError):
        failing_app.test_client().get("/tasks/boom")


def test_a_bug_is_a_500_without_traceback_outside_tests(failing_app):
    """In production a bug answers a plain 500; the traceback goes to the log."""
    failing_app.testing = False
    response = failing_app.test_client().get("/tasks/boom")
    assert response.status_code == 500
    assert set(response.get_json()) == {"error"}
    assert "ZeroDivisionError" not in response.get_data(as_text=True)
