"""Registration mail end to end: form post -> worker -> a real SMTP server.

The project runs under gunicorn with a real worker and Redis; mail goes to an
aiosmtpd server in this process, which tests stop, start and make refuse.
"""

import subprocess
import time

import pytest
from conftest import running_stack
from mail import new_address, register
from stack import Stack
from support import baked, clean_env, wait_until

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(
    cookies_session, project_venv, redis_server, database_url, smtp, tmp_path_factory
):
    """The default bake with its mail settings pointed at `smtp`, on PostgreSQL."""
    project = baked(cookies_session)
    # Development settings, so that the session cookie (CSRF) works over
    # plain HTTP; the broker and mail server are real.
    env = clean_env(
        project_venv,
        project,
        APP_ENV="development",
        CELERY_BROKER_URL=redis_server,
        DATABASE_URL=database_url,
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=str(smtp.port),
    )
    yield from running_stack(project, project_venv, env, tmp_path_factory)


def test_registration_sends_the_confirmation_mail(stack, smtp):
    """A valid post answers at once; the worker delivers the mail, once."""
    address = new_address()
    response = register(stack, address)
    assert response.status_code == 200
    assert address in response.text
    wait_until(lambda: smtp.to(address), timeout=30, message=stack.logs)
    time.sleep(1)
    [message] = smtp.to(address)
    assert "Confirm" in message["Subject"]
    text = message.get_body(("plain",)).get_content()
    assert address in text
    assert stack.url("/account/confirm/") in text
    assert message.get_body(("html",)) is not None


def test_mail_server_down_at_first_gets_the_mail_later(stack, smtp):
    """Connection refused is retried with back-off; the mail arrives once."""
    smtp.stop()
    try:
        address = new_address()
        assert register(stack, address).status_code == 200
        wait_until(
            lambda: "Retry in" in stack.processes["worker"].log_text(),
            timeout=30,
            message=stack.logs,
        )
        time.sleep(3)
    finally:
        smtp.start()
    wait_until(lambda: smtp.to(address), timeout=90, message=stack.logs)
    time.sleep(2)
    assert len(smtp.to(address)) == 1


def test_worker_killed_while_sending_delivers_the_mail_once(stack, smtp):
    """Pool process killed mid-conversation: another try delivers it, once."""
    address = new_address()
    smtp.rcpt_delay = 5
    try:
        assert register(stack, address).status_code == 200
        wait_until(lambda: address in smtp.rcpt_seen, timeout=30, message=stack.logs)
        stack.processes["worker"].kill_children()
    finally:
        smtp.rcpt_delay = 0
    wait_until(lambda: smtp.to(address), timeout=60, message=stack.logs)
    time.sleep(2)
    assert len(smtp.to(address)) == 1
    assert "WorkerLostError" in stack.processes["worker"].log_text()


def test_permanent_refusal_fails_without_retry(stack, smtp, project_venv):
    """A 5xx reply fails the task at once: one attempt, the worker logs why.

    (Mail stores no result: nobody reads it.)
    """
    address = new_address()
    smtp.reply = "554 5.7.1 Rejected"
    try:
        task_id = send_test_email(stack, project_venv, address)
        failed = f"[{task_id}] raised unexpected: SMTPDataError(554"
        worker = stack.processes["worker"]
        wait_until(lambda: failed in worker.log_text(), timeout=30, message=stack.logs)
    finally:
        smtp.reply = None
    time.sleep(2)
    assert smtp.attempts.count(address) == 1
    assert smtp.to(address) == []


@pytest.mark.parametrize(
    "address",
    ["not-an-address", "ada@", "ada@example.com\r\nBcc: eve@example.com", ""],
)
def test_bad_address_is_a_form_error_and_sends_nothing(stack, smtp, address):
    """The form answers 400 with the error shown; no mail is attempted."""
    attempts = len(smtp.attempts)
    response = register(stack, address)
    assert response.status_code == 400
    assert 'class="errors"' in response.text
    time.sleep(1)
    assert len(smtp.attempts) == attempts


def send_test_email(stack: Stack, venv, address: str) -> str:
    """`python manage.py send-test-email ADDRESS`; returns the printed task id."""
    completed = subprocess.run(
        [str(venv.python), "manage.py", "send-test-email", address],
        cwd=stack.project,
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return completed.stdout.strip().splitlines()[-1]
