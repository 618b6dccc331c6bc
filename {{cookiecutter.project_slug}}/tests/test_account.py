"""Registration stores an unconfirmed user; the mailed link confirms it."""

import email
import email.policy
import re
import time

import pytest
from conftest import csrf_token, wait_for
from sqlalchemy import select

from app.accounts import confirmation_token
from app.models import User, db


def register(client, address: str, **kwargs):
    """Post the form as a browser would, CSRF token included."""
    return client.post(
        "/account/register",
        data={"email": address, "csrf_token": csrf_token(client)},
        **kwargs,
    )


def user(app, address: str) -> User | None:
    with app.app_context():
        return db.session.scalar(select(User).where(User.email == address))


def test_form_is_served_with_a_csrf_token(client):
    """The page holds the e-mail field and a CSRF token."""
    page = client.get("/account/register").get_data(as_text=True)
    assert 'name="email"' in page
    assert csrf_token(client)


def test_post_without_csrf_token_is_an_html_400(client, sent_tasks):
    """A forged cross-site post is refused with a page, and queues nothing."""
    response = client.post("/account/register", data={"email": "ada@example.com"})
    assert response.status_code == 400
    assert response.mimetype == "text/html"
    assert "CSRF" in response.get_data(as_text=True)
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
    response = register(client, address)
    assert response.status_code == 400
    assert 'class="errors"' in response.get_data(as_text=True)
    assert sent_tasks == []


def test_registration_stores_an_unconfirmed_user(app, client, sent_tasks):
    """A valid post stores the address, unconfirmed, and queues one mail."""
    response = register(client, "Ada@Example.COM", follow_redirects=True)
    assert response.status_code == 200
    stored = user(app, "ada@example.com")
    assert stored is not None
    assert stored.confirmed_at is None
    [(name, (user_id, link))] = sent_tasks
    assert name == "app.tasks.email.send_confirmation_email"
    assert user_id == stored.id
    assert link.startswith("http://localhost/account/confirm/")


def test_a_burst_of_posts_sends_one_message(app, client, sent_tasks):
    """Twenty posts of one address, however spelt, queue one mail."""
    for index in range(20):
        address = "ada@example.com" if index % 2 else "ADA@example.com"
        assert register(client, address).status_code == 302
    assert len(sent_tasks) == 1
    with app.app_context():
        assert db.session.query(User).count() == 1


def test_a_new_message_after_the_interval(app, client, sent_tasks):
    """Once the interval has passed, another post sends another link."""
    app.config["CONFIRMATION_RESEND_MINUTES"] = 0
    register(client, "ada@example.com")
    register(client, "ada@example.com")
    assert len(sent_tasks) == 2


def test_known_and_new_addresses_get_the_same_answer(client):
    """The answer never tells whether an address was registered before."""
    first = register(client, "ada@example.com", follow_redirects=True)
    again = register(client, "ada@example.com", follow_redirects=True)
    assert first.status_code == again.status_code == 200
    assert first.get_data() == again.get_data()


def test_the_link_confirms_the_address(app, client):
    """Opening the link sets confirmed_at; opening it again changes nothing."""
    register(client, "ada@example.com")
    link = confirmation_link(app, "ada@example.com")
    response = client.get(link)
    assert response.status_code == 200
    assert "ada@example.com" in response.get_data(as_text=True)
    confirmed_at = user(app, "ada@example.com").confirmed_at
    assert confirmed_at is not None
    assert client.get(link).status_code == 200
    assert user(app, "ada@example.com").confirmed_at == confirmed_at


def test_a_confirmed_address_gets_no_new_link(app, client, sent_tasks):
    """Registering a confirmed address again sends nothing."""
    app.config["CONFIRMATION_RESEND_MINUTES"] = 0
    register(client, "ada@example.com")
    client.get(confirmation_link(app, "ada@example.com"))
    register(client, "ada@example.com")
    assert len(sent_tasks) == 1


@pytest.mark.parametrize("change", ["tamper", "expire", "other-key"])
def test_a_bad_link_is_an_html_400_that_changes_nothing(app, client, change):
    """Tampered, expired or foreign tokens: a 400 page; still unconfirmed."""
    register(client, "ada@example.com")
    link = confirmation_link(app, "ada@example.com")
    if change == "tamper":
        link = link[:-3] + ("AAA" if not link.endswith("AAA") else "BBB")
    elif change == "expire":
        app.config["CONFIRMATION_LINK_MAX_AGE"] = -1
    else:
        app.secret_key = "another-key"
    response = client.get(link)
    assert response.status_code == 400
    assert response.mimetype == "text/html"
    assert user(app, "ada@example.com").confirmed_at is None


def test_a_link_made_up_from_scratch_is_a_400(client):
    """Any token that we did not sign is refused."""
    assert client.get("/account/confirm/not-a-token").status_code == 400


def test_worker_mails_a_link_that_confirms(live_client, live_app, smtp_inbox):
    """A real worker sends one message; its link confirms the user."""
    register(live_client, "ada@example.com")
    wait_for(lambda: smtp_inbox.messages, 20, "the confirmation mail")
    time.sleep(0.5)
    [raw] = smtp_inbox.messages
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert message["To"] == "ada@example.com"
    assert live_app.config["PROJECT_NAME"] in message["Subject"]
    text = message.get_body(("plain",)).get_content()
    link = re.search(r"http://\S+/account/confirm/\S+", text)[0]
    assert live_client.get(link).status_code == 200
    assert user(live_app, "ada@example.com").confirmed_at is not None


def confirmation_link(app, address: str) -> str:
    """The path of the link that the confirmation mail would carry."""
    with app.app_context():
        return f"/account/confirm/{confirmation_token(user(app, address))}"


def test_the_mailed_link_is_built_from_app_base_url_not_the_host(
    app, client, sent_tasks
):
    """A post with `Host: evil.example` must not mail a link to that host."""
    app.config["APP_BASE_URL"] = "https://app.example.com/base"
    evil = "http://evil.example"
    page = client.get("/account/register", base_url=evil).get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)[1]
    form = {"email": "ada@example.com", "csrf_token": token}
    assert client.post("/account/register", data=form, base_url=evil).status_code == 302
    [(name, (_, link))] = sent_tasks
    assert name == "app.tasks.email.send_confirmation_email"
    assert link.startswith("https://app.example.com/base/account/confirm/")
    assert "evil" not in link


def test_a_link_signed_with_an_earlier_key_still_confirms(app, client):
    """SECRET_KEY_FALLBACKS: rotating the key orphans no link on its way."""
    register(client, "ada@example.com")
    link = confirmation_link(app, "ada@example.com")
    app.config["SECRET_KEY_FALLBACKS"] = [app.secret_key]
    app.secret_key = "a-new-key"
    assert client.get(link).status_code == 200
    assert user(app, "ada@example.com").confirmed_at is not None
