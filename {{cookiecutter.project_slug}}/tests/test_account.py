"""Registration: a CSRF-protected form that hands the welcome mail to a task."""

import email
import email.policy
import time
from collections.abc import Iterator

import pytest
from celery.signals import before_task_publish
from conftest import csrf_token, wait_for


@pytest.fixture
def sent_tasks() -> Iterator[list[str]]:
    """The names of the tasks sent while the test runs."""
    sent: list[str] = []

    def record(sender: str, **_: object) -> None:
        sent.append(sender)

    before_task_publish.connect(record)
    yield sent
    before_task_publish.disconnect(record)


def test_form_is_served_with_a_csrf_token(client):
    """The page holds the e-mail field and a CSRF token."""
    page = client.get("/account/register").get_data(as_text=True)
    assert 'name="email"' in page
    assert csrf_token(client)


def test_post_without_csrf_token_is_refused(client, sent_tasks):
    """A forged cross-site post is refused and queues nothing."""
    response = client.post("/account/register", data={"email": "ada@example.com"})
    assert response.status_code == 400
    assert "CSRF" in response.get_json()["error"]
    assert sent_tasks == []


@pytest.mark.parametrize(
    "address",
    [
        "",
        "not-an-address",
        "ada@",
        "ada@example.com\r\nBcc: eve@example.com",
        "ada@example.com\nX-Spam: yes",
        "a" * 250 + "@example.com",
    ],
)
def test_invalid_address_is_a_form_error(client, sent_tasks, address):
    """A bad address shows the form again with an error, and queues nothing."""
    response = client.post(
        "/account/register", data={"email": address, "csrf_token": csrf_token(client)}
    )
    assert response.status_code == 400
    assert 'class="errors"' in response.get_data(as_text=True)
    assert sent_tasks == []


def test_valid_address_queues_the_welcome_mail(client, sent_tasks):
    """A valid post queues one task and says a message is on its way."""
    response = client.post(
        "/account/register",
        data={"email": "ada@example.com", "csrf_token": csrf_token(client)},
        follow_redirects=True,
    )
    assert response.status_code == 200
    assert "ada@example.com" in response.get_data(as_text=True)
    assert sent_tasks == ["app.tasks.email.send_welcome_email"]


def test_worker_sends_the_welcome_mail(live_client, live_app, smtp_inbox):
    """A real worker sends the message to a real SMTP server, once."""
    live_client.post(
        "/account/register",
        data={"email": "ada@example.com", "csrf_token": csrf_token(live_client)},
    )
    wait_for(lambda: smtp_inbox.messages, 20, "the welcome mail")
    time.sleep(0.5)
    [raw] = smtp_inbox.messages
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert message["To"] == "ada@example.com"
    assert live_app.config["PROJECT_NAME"] in message["Subject"]
    assert "ada@example.com" in message.get_body(("plain",)).get_content()
