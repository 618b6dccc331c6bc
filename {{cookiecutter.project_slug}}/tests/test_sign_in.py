"""Sign-in by a mailed link, sign-out, and tasks that belong to accounts."""

import re
from datetime import timedelta

import pytest
from conftest import csrf_token
from sqlalchemy import event, select

from app.accounts import sign_in_token
from app.models import Job, User, db
from app.models.base import utcnow

ADA = "ada@example.com"


@pytest.fixture
def users(app) -> dict[str, int]:
    """Three registered addresses, unconfirmed: their ids by address."""
    with app.app_context():
        for address in (ADA, "bob@example.com", "eve@example.com"):
            db.session.add(User(email=address))
        db.session.commit()
        return dict(db.session.execute(select(User.email, User.id)).all())


def ask_for_link(client, address: str):
    """Post the sign-in form as a browser would, CSRF token included."""
    form = {"email": address, "csrf_token": csrf_token(client, "/account/login")}
    return client.post("/account/login", data=form)


def mailed_links(sent_tasks) -> list[str]:
    return [
        link
        for name, (_, link) in sent_tasks
        if name == "app.tasks.email.send_sign_in_email"
    ]


def link_for(app, address: str) -> str:
    """The path of a sign-in link for `address`, as the mail would carry it."""
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == address))
        return f"/account/login/{sign_in_token(user)}"


def signed_in_as(client) -> str | None:
    page = client.get("/").get_data(as_text=True)
    found = re.search(r'id="signed-in-as">([^<]+)<', page)
    return found[1] if found else None


def sign_out(client):
    token = re.search(
        r'name="csrf_token" type="hidden" value="([^"]+)"',
        client.get("/").get_data(as_text=True),
    )[1]
    return client.post("/account/logout", data={"csrf_token": token})


def test_the_form_is_served_with_a_csrf_token(client):
    page = client.get("/account/login").get_data(as_text=True)
    assert 'name="email"' in page and 'name="csrf_token"' in page


def test_a_known_address_is_mailed_a_link_and_any_address_gets_the_same_answer(
    app, client, users, sent_tasks
):
    known = ask_for_link(client, ADA)
    unknown = ask_for_link(client, "nobody@example.com")
    assert known.status_code == unknown.status_code == 302
    assert known.headers["Location"] == unknown.headers["Location"]
    [link] = mailed_links(sent_tasks)
    assert link.startswith("http://localhost/account/login/")


def test_fifteen_posts_for_one_address_send_one_link(app, client, users, sent_tasks):
    """At most one sign-in mail per address a minute, however often it asks."""
    for _ in range(15):
        assert ask_for_link(client, "Ada@Example.com").status_code == 302
    assert len(mailed_links(sent_tasks)) == 1
    with app.app_context():
        user = db.session.get(User, users[ADA])
        user.sign_in_link_sent_at = utcnow() - timedelta(seconds=61)
        db.session.commit()
    ask_for_link(client, ADA)
    assert len(mailed_links(sent_tasks)) == 2


def test_an_invalid_address_is_a_form_error_and_mails_nothing(client, sent_tasks):
    response = ask_for_link(client, "not-an-address")
    assert response.status_code == 400
    assert mailed_links(sent_tasks) == []


def test_the_link_signs_in_once_and_confirms_the_address(app, client, users):
    link = link_for(app, ADA)
    response = client.get(link)
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert signed_in_as(client) == ADA
    with app.app_context():
        assert db.session.get(User, users[ADA]).confirmed_at is not None
    again = app.test_client().get(link)
    assert again.status_code == 400 and again.mimetype == "text/html"


def test_signing_in_dies_every_older_link(app, client, users):
    first, second = link_for(app, ADA), link_for(app, ADA)
    assert client.get(second).status_code == 302
    assert app.test_client().get(first).status_code == 400


@pytest.mark.parametrize("change", ["tamper", "expire", "other-key"])
def test_a_bad_link_is_an_html_400_and_signs_nobody_in(app, client, users, change):
    link = link_for(app, ADA)
    if change == "tamper":
        link = link[:-3] + ("AAA" if not link.endswith("AAA") else "BBB")
    elif change == "expire":
        app.config["LOGIN_LINK_MINUTES"] = -1
    else:
        app.secret_key = "another-key"
    response = client.get(link)
    assert response.status_code == 400 and response.mimetype == "text/html"
    assert signed_in_as(client) is None


def test_a_link_signed_with_an_earlier_key_still_signs_in(app, client, users):
    link = link_for(app, ADA)
    app.config["SECRET_KEY_FALLBACKS"] = [app.secret_key]
    app.secret_key = "the-new-key"
    assert client.get(link).status_code == 302
    assert signed_in_as(client) == ADA


def session_of(app, client) -> dict:
    """What the browser's session cookie holds (it is signed, not secret)."""
    serializer = app.session_interface.get_signing_serializer(app)
    return serializer.loads(client.get_cookie("session").value)


def test_sign_in_renews_the_session(app, client, users):
    """Nothing of the session from before the sign-in lives on: someone who
    planted or copied it learns nothing of the signed-in one."""
    client.get("/tasks")
    before = session_of(app, client)
    client.get(link_for(app, ADA))
    after = session_of(app, client)
    assert before["client_id"] not in after.values()
    cookie = client.get_cookie("session")
    assert cookie.http_only and cookie.same_site == "Lax"
    # It lasts PERMANENT_SESSION_LIFETIME (SESSION_LIFETIME_DAYS), not the tab.
    assert cookie.expires is not None


def test_sign_out_needs_the_pages_token(app, client, users):
    client.get(link_for(app, ADA))
    assert client.post("/account/logout").status_code == 400
    assert signed_in_as(client) == ADA
    assert sign_out(client).status_code == 302
    assert signed_in_as(client) is None


def test_an_accounts_tasks_follow_it_to_every_browser(app, users):
    """Two browsers signed in to one account share its tasks; a third
    account, and a signed-out browser, get 404 for them."""
    laptop, phone, eve = (app.test_client() for _ in range(3))
    before = laptop.post("/tasks").get_json()["id"]  # anonymous, adopted below
    laptop.get(link_for(app, ADA))
    phone.get(link_for(app, ADA))
    eve.get(link_for(app, "eve@example.com"))
    signed_in = phone.post("/tasks").get_json()["id"]
    for browser in (laptop, phone):
        listed = [task["id"] for task in browser.get("/tasks").get_json()["tasks"]]
        assert listed == [signed_in, before]
        for task_id in listed:
            assert browser.get(f"/tasks/{task_id}").status_code == 200
    for task_id in (before, signed_in):
        assert eve.get(f"/tasks/{task_id}").status_code == 404
        assert eve.delete(f"/tasks/{task_id}").status_code == 404
    assert eve.get("/tasks").get_json() == {"tasks": []}
    sign_out(laptop)
    assert laptop.get("/tasks").get_json() == {"tasks": []}
    for task_id in (before, signed_in):
        assert laptop.get(f"/tasks/{task_id}").status_code == 404
    with app.app_context():
        rows = db.session.scalars(select(Job.account_id)).all()
        assert rows == [users[ADA]] * 2


def test_an_owners_poll_reads_no_database(app, users):
    """Signed in or not, following your own task costs no SQL statement."""
    client = app.test_client()
    anonymous = client.post("/tasks").get_json()["id"]
    client.get(link_for(app, ADA))
    own = client.post("/tasks").get_json()["id"]
    sent: list[str] = []
    with app.app_context():
        engine = db.engine
    record = lambda *args, **_: sent.append(args[2])  # noqa: E731
    event.listen(engine, "before_cursor_execute", record)
    try:
        assert client.get(f"/tasks/{own}").status_code == 200
        assert sent == []
        # A task started before the sign-in is found through its job row.
        assert client.get(f"/tasks/{anonymous}").status_code == 200
        assert len(sent) == 1
    finally:
        event.remove(engine, "before_cursor_execute", record)
