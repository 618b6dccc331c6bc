"""Sessions: skipped where a request carries none, Flask's own elsewhere.

The registration tests (test_account.py) cover the other side: the form's
CSRF token lives in the session and is checked from it.
"""

from flask import request

from app.sessions import SessionInterface


def test_no_cookie_opens_an_empty_session_without_a_signer(app, monkeypatch):
    def no_signer(*_: object) -> None:
        raise AssertionError("the signer was built")

    monkeypatch.setattr(SessionInterface, "get_signing_serializer", no_signer)
    with app.test_request_context("/tasks/some-id"):
        session = app.session_interface.open_session(app, request)
    assert session is not None and not session


def test_a_status_poll_sets_no_cookie(client):
    response = client.get("/tasks/not-an-issued-id")
    assert response.status_code == 404
    assert "Set-Cookie" not in response.headers
    assert "Cookie" not in response.vary


def test_the_form_page_starts_a_session(client):
    client.get("/account/register")
    assert client.get_cookie("session") is not None
