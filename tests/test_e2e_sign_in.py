"""Sign-in by mailed link, end to end: gunicorn, a worker, PostgreSQL, aiosmtpd.

Two browsers signed in to one account follow the same tasks; a third
account sees none; links work once, expire and refuse tampering; sign-out
takes the account's tasks from the browser. And the same in Chromium,
through the pages.
"""

import re
import time
from pathlib import Path

import psycopg
import pytest
import requests
from conftest import running_stack
from mail import new_address, register
from playwright.sync_api import expect
from stack import Stack, start_task
from support import (
    ManagedProcess,
    baked,
    browser,
    free_port,
    postgres_url,
    production_env,
    wait_for_port,
    wait_until,
)

pytestmark = pytest.mark.e2e

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"


@pytest.fixture(scope="module")
def stack(
    cookies_session, project_venv, redis_server, database, smtp, tmp_path_factory
):
    """The default bake in production, its mail going to `smtp`."""
    project = baked(cookies_session)
    env = production_env(
        project_venv,
        project,
        CELERY_BROKER_URL=redis_server,
        DATABASE_URL=postgres_url(database),
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=str(smtp.port),
    )
    yield from running_stack(project, project_venv, env, tmp_path_factory)


def form_token(client: requests.Session, url: str) -> str:
    page = client.get(url, timeout=15).text
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)[1]


def ask_for_link(stack: Stack, client: requests.Session, address: str):
    token = form_token(client, stack.url("/account/login"))
    return client.post(
        stack.url("/account/login"),
        data={"email": address, "csrf_token": token},
        timeout=15,
    )


def sign_in_links(smtp, address: str) -> list[str]:
    return [
        re.search(
            r"https?://\S+/account/login/\S+", m.get_body(("plain",)).get_content()
        )[0]
        for m in smtp.to(address)
        if "Sign in" in m["Subject"]
    ]


def mailed_link(stack: Stack, smtp, client: requests.Session, address: str) -> str:
    """Ask for a sign-in link as `client`; the link, once the worker mailed it."""
    known = len(sign_in_links(smtp, address))
    assert ask_for_link(stack, client, address).status_code == 200
    wait_until(
        lambda: len(sign_in_links(smtp, address)) > known, 30, message=stack.logs
    )
    return sign_in_links(smtp, address)[-1]


def signed_in_as(stack: Stack, client: requests.Session) -> str | None:
    found = re.search(
        r'id="signed-in-as">([^<]+)<', client.get(stack.url("/"), timeout=15).text
    )
    return found[1] if found else None


def listed(stack: Stack, client: requests.Session) -> list[str]:
    answer = client.get(stack.url("/tasks"), timeout=15).json()
    return [task["id"] for task in answer["tasks"]]


def a_minute_passes(database: str, address: str) -> None:
    """The one-link-a-minute rule, fast-forwarded for `address`."""
    with psycopg.connect(postgres_url(database)) as connection:
        connection.execute(
            "UPDATE users SET sign_in_link_sent_at = sign_in_link_sent_at"
            " - interval '61 seconds' WHERE email = %s",
            [address],
        )


def new_account(stack: Stack, smtp) -> str:
    address = new_address()
    assert register(stack, address).status_code == 200
    return address


def test_two_browsers_signed_in_follow_the_same_tasks(stack, smtp, database):
    ada = new_account(stack, smtp)
    laptop, phone, eve = browser(), browser(), browser()
    before = start_task(stack, laptop, total=1, delay=0)  # becomes the account's
    assert laptop.get(mailed_link(stack, smtp, laptop, ada), timeout=15).ok
    a_minute_passes(database, ada)
    assert phone.get(mailed_link(stack, smtp, phone, ada), timeout=15).ok
    assert signed_in_as(stack, laptop) == signed_in_as(stack, phone) == ada
    signed_in = start_task(stack, phone, total=1, delay=0)
    for client in (laptop, phone):
        assert listed(stack, client) == [signed_in, before]
        for task_id in (before, signed_in):
            assert client.get(stack.url(f"/tasks/{task_id}"), timeout=15).ok

    other = new_account(stack, smtp)
    assert eve.get(mailed_link(stack, smtp, eve, other), timeout=15).ok
    assert listed(stack, eve) == []
    for task_id in (before, signed_in):
        assert eve.get(stack.url(f"/tasks/{task_id}"), timeout=15).status_code == 404

    token = form_token(laptop, stack.url("/"))
    out = laptop.post(stack.url("/account/logout"), data={"csrf_token": token})
    assert out.ok and signed_in_as(stack, laptop) is None
    assert listed(stack, laptop) == []
    assert laptop.get(stack.url(f"/tasks/{signed_in}"), timeout=15).status_code == 404
    assert listed(stack, phone) == [signed_in, before]


def test_a_link_works_once_and_refuses_tampering(stack, smtp):
    ada = new_account(stack, smtp)
    link = mailed_link(stack, smtp, browser(), ada)
    assert browser().get(link, timeout=15).ok
    for bad in (link, link[:-4] + "AAAA"):
        stranger = browser()
        response = stranger.get(bad, timeout=15)
        assert response.status_code == 400
        assert response.headers["Content-Type"].startswith("text/html")
        assert signed_in_as(stack, stranger) is None


def test_a_link_expires(stack, smtp, tmp_path):
    """A web process whose links last 0 minutes refuses the link a second on."""
    link = mailed_link(stack, smtp, browser(), new_account(stack, smtp))
    port = free_port()
    env = {**stack.env, "LOGIN_LINK_MINUTES": "0"}
    command = [str(stack.venv.bin("gunicorn")), "--bind", f"127.0.0.1:{port}"]
    with ManagedProcess([*command, "wsgi:app"], stack.project, env, tmp_path / "w.log"):
        wait_for_port("127.0.0.1", port, timeout=60)
        expired = link.replace(stack.base_url, f"http://127.0.0.1:{port}")
        wait_until(lambda: browser().get(expired, timeout=15).status_code == 400, 10)


def test_fifteen_posts_for_one_address_send_at_most_one_mail(stack, smtp):
    ada = new_account(stack, smtp)
    client = browser()
    for _ in range(15):
        assert ask_for_link(stack, client, ada).status_code == 200
    wait_until(lambda: sign_in_links(smtp, ada), 30, message=stack.logs)
    time.sleep(2)  # for a second message, were one on its way
    assert len(sign_in_links(smtp, ada)) == 1


def test_sign_in_through_the_pages_in_chromium(stack, smtp, chromium):
    """Sign in by the form and the mailed link, start a task, reload, sign out."""
    ada = new_account(stack, smtp)
    context = chromium.new_context()
    page = context.new_page()
    page.goto(stack.url("/"))
    page.click("#sign-in")
    page.fill("input[name=email]", ada)
    page.click("#send-sign-in-link")
    expect(page.locator("h1")).to_have_text("Check your inbox")
    wait_until(lambda: sign_in_links(smtp, ada), 30, message=stack.logs)
    page.goto(sign_in_links(smtp, ada)[-1])
    expect(page.locator("#signed-in-as")).to_have_text(ada)

    page.fill("#total", "3")
    page.fill("#delay", "0.1")
    page.click("#start-task")
    rows = page.locator("[data-task-id]")
    expect(rows).to_have_count(1)
    page.fill("#total", "60")
    page.click("#start-task")
    expect(rows).to_have_count(2)
    page.reload()
    expect(rows).to_have_count(2)
    # Newest first: the long one on top, running; the short one done.
    expect(rows.nth(1)).to_have_attribute("data-state", "SUCCESS", timeout=30_000)
    expect(rows.nth(0)).to_have_attribute("data-state", "PROGRESS", timeout=30_000)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "signed-in.png")
    page.click("#sign-out")
    expect(page.locator("#signed-in-as")).to_have_count(0)
    page.wait_for_load_state("networkidle")
    expect(rows).to_have_count(0)
    context.close()
