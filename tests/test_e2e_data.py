"""The data layer end to end: PostgreSQL under gunicorn and a real worker.

The default bake runs in production mode on a private Redis and a database of
its own, which it reaches through a TCP proxy that tests stop and resume.
Registration mail goes to an aiosmtpd server in this process; the tests read
the `users` and `jobs` rows straight from PostgreSQL.
"""

import re
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import psycopg
import pytest
import requests
from conftest import running_stack
from mail import SMTPServer, new_address
from mail import register as post_registration
from psycopg.rows import dict_row
from stack import Stack, poll_task, start_task
from support import (
    POSTGRES_HOST,
    POSTGRES_PORT,
    baked,
    browser,
    http_get,
    http_post,
    postgres_url,
    private_redis,
    production_env,
    wait_until,
)
from tcp_proxy import TCPProxy

pytestmark = pytest.mark.e2e

# What a worker logs when its database connections break.
CONNECTION_ERRORS = (
    "OperationalError",
    "not updated in the history",
    "SSL SYSCALL",
    "server closed the connection",
)
# The contract: an outage of the database is a 503 within this many seconds.
OUTAGE_ANSWER_SECONDS = 10


@pytest.fixture(scope="module")
def proxy():
    """The way to PostgreSQL the stack takes; tests stop and restart it."""
    with TCPProxy(POSTGRES_HOST, POSTGRES_PORT) as running:
        yield running


@pytest.fixture(scope="module")
def stack(
    cookies_session,
    project_venv,
    redis_server,
    database,
    proxy,
    smtp,
    tmp_path_factory,
):
    """The default bake in production, its database behind `proxy`."""
    project = baked(cookies_session)
    env = production_env(
        project_venv,
        project,
        CELERY_BROKER_URL=redis_server,
        DATABASE_URL=postgres_url(database, port=proxy.port),
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=str(smtp.port),
    )
    yield from running_stack(project, project_venv, env, tmp_path_factory)


@pytest.fixture(autouse=True)
def proxy_forwarding(request):
    """Whatever a test did to the proxy, the next test finds it forwarding."""
    yield
    if "proxy" in request.fixturenames:
        request.getfixturevalue("proxy").start()


def query(database: str, sql: str, *params) -> list[dict]:
    """Rows straight from PostgreSQL (not through the proxy)."""
    with psycopg.connect(postgres_url(database), row_factory=dict_row) as connection:
        return connection.execute(sql, params).fetchall()


def register(stack: Stack, address: str, client: requests.Session | None = None):
    """Post the registration form from `client`, else from a new browser."""
    return post_registration(stack, address, client or browser())


def mailed_link(stack: Stack, smtp: SMTPServer, address: str) -> str:
    """Register `address` and return the link in the one mail it gets."""
    assert register(stack, address).status_code == 200
    wait_until(lambda: smtp.to(address), timeout=30, message=stack.logs)
    [message] = smtp.to(address)
    text = message.get_body(("plain",)).get_content()
    return re.search(r"https?://\S+", text)[0]


def run_to_success(stack: Stack, client: requests.Session | None = None, **body) -> str:
    """Start a task, wait until it succeeds; returns its id."""
    task_id = start_task(stack, client, **body)
    final = poll_task(
        stack.url(f"/tasks/{task_id}"),
        {"SUCCESS", "FAILURE"},
        stack.logs,
        client=client,
    )[-1]
    assert final["state"] == "SUCCESS", final
    return task_id


def timed_post(stack: Stack) -> tuple[requests.Response, float]:
    """POST /tasks; the answer and the seconds it took."""
    started = time.monotonic()
    response = http_post(stack.url("/tasks"), json={"total": 1, "delay": 0}, timeout=30)
    return response, time.monotonic() - started


def assert_unavailable(response: requests.Response, seconds: float) -> None:
    """The 503 a client gets during an outage: JSON, fast, with Retry-After."""
    assert seconds < OUTAGE_ANSWER_SECONDS
    assert response.status_code == 503, response.text
    assert set(response.json()) == {"error"}
    assert "database" in response.json()["error"]
    assert int(response.headers["Retry-After"]) > 0


def test_mailed_link_confirms_the_address(stack, smtp, database):
    """One mail with an absolute link; opening it confirms the users row."""
    address = new_address()
    link = mailed_link(stack, smtp, address)
    assert urlsplit(link).netloc == urlsplit(stack.base_url).netloc
    assert urlsplit(link).path.startswith("/account/confirm/")
    [user] = query(database, "SELECT * FROM users WHERE email = %s", address)
    assert user["confirmed_at"] is None

    response = http_get(link, timeout=15)
    assert response.status_code == 200
    assert address in response.text
    [user] = query(database, "SELECT * FROM users WHERE email = %s", address)
    assert user["confirmed_at"] is not None
    time.sleep(1)
    assert len(smtp.to(address)) == 1


def test_a_burst_of_posts_of_one_address_sends_one_mail(stack, smtp, database):
    """Twenty posts, some concurrent, from eight browsers: one mail, one row."""
    address = new_address()

    def post_from_one_browser(count: int) -> list[int]:
        client = browser()
        spellings = [address, address.upper()]
        return [
            register(stack, spellings[n % 2], client).status_code for n in range(count)
        ]

    with ThreadPoolExecutor(8) as browsers:
        answers = browsers.map(post_from_one_browser, [6, 4, 3, 2, 2, 1, 1, 1])
        statuses = [status for answer in answers for status in answer]
    assert statuses == [200] * 20
    wait_until(lambda: smtp.to(address), timeout=30, message=stack.logs)
    time.sleep(3)
    assert len(smtp.to(address)) == 1
    assert len(query(database, "SELECT id FROM users WHERE email = %s", address)) == 1


def test_tampered_link_is_refused_and_confirms_nothing(stack, smtp, database):
    """A link with one character changed, or cut short, is a 400 page."""
    address = new_address()
    link = mailed_link(stack, smtp, address)
    prefix, token = link.rsplit("/", 1)
    payload, timestamp, signature = token.rsplit(".", 2)

    def changed(text: str, index: int) -> str:
        return text[:index] + ("A" if text[index] != "A" else "B") + text[index + 1 :]

    tampered = [
        f"{prefix}/{changed(payload, len(payload) // 2)}.{timestamp}.{signature}",
        f"{prefix}/{payload}.{timestamp}.{changed(signature, 3)}",
        f"{prefix}/{payload}.{changed(timestamp, 1)}.{signature}",
        f"{prefix}/{token[:-5]}",
    ]
    for bad_link in tampered:
        response = http_get(bad_link, timeout=15)
        assert response.status_code == 400, bad_link
        assert response.headers["Content-Type"].startswith("text/html")
        assert "This link is not valid" in response.text
    [user] = query(database, "SELECT * FROM users WHERE email = %s", address)
    assert user["confirmed_at"] is None

    # The genuine link works: the refusals were the tampering's doing.
    assert http_get(link, timeout=15).status_code == 200


def test_each_client_lists_only_its_own_tasks_newest_first(stack):
    """GET /tasks shows a browser the tasks it started, by its session cookie."""
    ada, bob = browser(), browser()
    ada_first = start_task(stack, ada, total=1, delay=0)
    bob_first = start_task(stack, bob, total=1, delay=0)
    ada_second = start_task(stack, ada, total=2, delay=0)
    bob_second = start_task(stack, bob, total=2, delay=0)

    def listed(client) -> list[str]:
        response = client.get(stack.url("/tasks"), timeout=15)
        assert response.status_code == 200
        return [task["id"] for task in response.json()["tasks"]]

    assert listed(ada) == [ada_second, ada_first]
    assert listed(bob) == [bob_second, bob_first]
    assert listed(browser()) == []


def test_pool_process_killed_mid_task_leaves_one_finished_row(stack, database):
    """The killed long task is delivered again; its one row ends SUCCESS, complete."""
    task_id = start_task(stack, total=30, delay=0.1)
    status_url = stack.url(f"/tasks/{task_id}")
    poll_task(status_url, {"PROGRESS"}, stack.logs)
    stack.processes["worker"].kill_children()
    final = poll_task(status_url, {"SUCCESS", "FAILURE"}, stack.logs)[-1]
    assert final["state"] == "SUCCESS"
    assert "WorkerLostError" in stack.processes["worker"].log_text()

    rows = query(database, "SELECT * FROM jobs WHERE id = %s", task_id)
    assert [(row["state"], row["current"], row["total"]) for row in rows] == [
        ("SUCCESS", 30, 30)
    ]
    assert rows[0]["finished_at"] is not None


def test_database_stopped_answers_503_then_recovers(stack, proxy, database):
    """Database gone: 503 JSON fast, healthz names it; back: tasks run again."""
    run_to_success(stack, total=1, delay=0)
    proxy.stop()
    response, seconds = timed_post(stack)
    assert_unavailable(response, seconds)
    health = http_get(stack.url("/healthz"), timeout=30)
    assert health.status_code == 503
    assert health.json()["database"] == "down"
    assert "database" in health.json()["error"]

    proxy.start()
    task_id = run_to_success(stack, total=3, delay=0.05)
    [row] = query(database, "SELECT state FROM jobs WHERE id = %s", task_id)
    assert row["state"] == "SUCCESS"
    assert http_get(stack.url("/healthz"), timeout=30).status_code == 200
    assert all(process.process.poll() is None for process in stack.processes.values())


def test_a_long_task_outlives_a_database_outage_and_records_its_end(
    stack, proxy, database
):
    """Database gone mid-long task: the long task carries on; its row ends SUCCESS."""
    task_id = start_task(stack, total=40, delay=0.1)
    status_url = stack.url(f"/tasks/{task_id}")
    poll_task(status_url, {"PROGRESS"}, stack.logs)
    proxy.stop()
    time.sleep(1.5)
    proxy.start()
    final = poll_task(status_url, {"SUCCESS", "FAILURE"}, stack.logs)[-1]
    assert final["state"] == "SUCCESS"
    warning = f"Job {task_id} not updated in the history"
    assert warning in stack.processes["worker"].log_text()
    [row] = query(database, "SELECT * FROM jobs WHERE id = %s", task_id)
    assert (row["state"], row["current"]) == ("SUCCESS", 40)


def test_database_stuck_on_connect_answers_503(stack, proxy):
    """New connections that get no answer time out: 503 JSON fast, then back."""
    proxy.hang()
    response, seconds = timed_post(stack)
    assert_unavailable(response, seconds)
    proxy.start()
    run_to_success(stack, total=1, delay=0)


def test_database_that_stopped_answering_is_a_503_and_needs_no_restart(
    stack, proxy, database
):
    """Every connection stalls (the database froze), then comes back reset.

    No server-side timeout can end a wait on a server that does not answer:
    the project's deadline (app/platform/database_deadline.py) gives a request caught
    in it a 503 within seconds, not a hang until gunicorn kills it. After
    the freeze, web and worker serve again on new connections, without a
    restart of either, and the long task caught in it ends SUCCESS.
    """
    long_task_id = start_task(stack, total=40, delay=0.1)
    poll_task(stack.url(f"/tasks/{long_task_id}"), {"PROGRESS"}, stack.logs)
    # Both web processes hold pooled connections, which will stall.
    with ThreadPoolExecutor(2) as clients:
        assert all(
            response.status_code == 202
            for response, _ in clients.map(lambda _: timed_post(stack), range(8))
        )
    proxy.hang(cut=False)
    try:
        with ThreadPoolExecutor(2) as clients:
            answers = list(clients.map(lambda _: timed_post(stack), range(2)))
    finally:
        proxy.start()
    print(f"\ndatabase frozen: POST /tasks answered {answers}")
    for response, seconds in answers:
        assert_unavailable(response, seconds)

    final = poll_task(
        stack.url(f"/tasks/{long_task_id}"), {"SUCCESS", "FAILURE"}, stack.logs
    )
    assert final[-1]["state"] == "SUCCESS"
    task_id = run_to_success(stack, total=2, delay=0.05)
    [row] = query(database, "SELECT state FROM jobs WHERE id = %s", task_id)
    assert row["state"] == "SUCCESS"
    [row] = query(database, "SELECT state FROM jobs WHERE id = %s", long_task_id)
    assert row["state"] == "SUCCESS"
    assert all(process.process.poll() is None for process in stack.processes.values())


def test_locked_table_answers_503_until_the_lock_goes(stack, database):
    """A transaction holding `jobs` locked: 503 JSON fast; released: 202."""
    with psycopg.connect(postgres_url(database)) as locker:
        locker.execute("LOCK TABLE jobs IN ACCESS EXCLUSIVE MODE")
        response, seconds = timed_post(stack)
        assert_unavailable(response, seconds)
        locker.rollback()
    run_to_success(stack, total=2, delay=0.05)


@pytest.mark.parametrize("pool", ["prefork", "threads", "gevent"])
def test_every_pool_writes_rows_without_connection_errors(
    stack, database, project_venv, pool, tmp_path
):
    """Several long tasks at once on each pool: rows SUCCESS, no broken connections."""
    redis = private_redis(tmp_path)
    env = {
        **stack.env,
        "CELERY_BROKER_URL": redis.url,
        "DATABASE_URL": postgres_url(database),
    }
    running = Stack(stack.project, project_venv, env, tmp_path)
    try:
        worker = running.start_worker("worker", "--pool", pool, "--concurrency", "4")
        running.start_web(workers=1)
        with ThreadPoolExecutor(4) as clients:
            task_ids = list(
                clients.map(
                    lambda _: run_to_success(running, browser(), total=5, delay=0.05),
                    range(8),
                )
            )
        rows = query(database, "SELECT * FROM jobs WHERE id = ANY(%s)", task_ids)
        assert (
            sorted((row["state"], row["current"]) for row in rows)
            == [("SUCCESS", 5)] * 8
        )
        log = worker.log_text()
        for error in CONNECTION_ERRORS:
            assert error not in log, log[-4000:]
    finally:
        running.stop()
        redis.stop()
