"""Sending mail over SMTP, against a real SMTP server (aiosmtpd)."""

import smtplib
import ssl
from contextlib import ExitStack

import pytest
import trustme
from aiosmtpd.smtp import AuthResult
from conftest import Inbox, free_port, smtp_server

from app.platform.mail import TemporaryMailError, build_message, send_message
from app.tasks.email import send_test_email


@pytest.fixture
def mail_server(app):
    """Start an SMTP server answering `reply`; point the app at it."""
    with ExitStack() as servers:

        def start(reply: str | None = None) -> Inbox:
            inbox = servers.enter_context(smtp_server(reply))
            app.config.update(
                MAIL_BACKEND="smtp", MAIL_SERVER="127.0.0.1", MAIL_PORT=inbox.port
            )
            return inbox

        yield start


def welcome(app):
    with app.app_context():
        return build_message("ada@example.com", "Hello", "Hi Ada", "<p>Hi Ada</p>")


def test_message_is_delivered(app, mail_server):
    """The server receives one message with both bodies."""
    inbox = mail_server()
    with app.app_context():
        send_message(welcome(app))
    [received] = inbox.messages
    assert b"Subject: Hello" in received
    assert b"text/html" in received


def test_temporary_refusal_is_worth_a_retry(app, mail_server):
    """A 4xx reply raises TemporaryMailError, which the task retries."""
    mail_server(reply="451 Try again later")
    with app.app_context(), pytest.raises(TemporaryMailError):
        send_message(welcome(app))


def test_permanent_refusal_is_not_retried(app, mail_server):
    """A 5xx reply raises the SMTP error itself: no retry will help."""
    mail_server(reply="554 No thanks")
    with app.app_context(), pytest.raises(smtplib.SMTPDataError):
        send_message(welcome(app))


def test_unreachable_server_is_worth_a_retry(app):
    """Nothing listening: TemporaryMailError."""
    app.config.update(
        MAIL_BACKEND="smtp", MAIL_SERVER="127.0.0.1", MAIL_PORT=free_port()
    )
    with app.app_context(), pytest.raises(TemporaryMailError):
        send_message(welcome(app))


def test_log_backend_writes_the_message_to_the_log(app, caplog):
    """With no MAIL_SERVER, the message goes to the log."""
    app.config["MAIL_BACKEND"] = "log"
    with app.app_context(), caplog.at_level("INFO"):
        send_message(welcome(app))
    assert "ada@example.com" in caplog.text


def test_testing_config_keeps_mail_in_the_outbox(app):
    """Under the testing config a mail task's message lands in a list."""
    send_test_email("ada@example.com")
    [message] = app.extensions["mail_outbox"]
    assert message["To"] == "ada@example.com"
    assert message["Subject"] == f"Test message from {app.config['PROJECT_NAME']}"


@pytest.fixture
def server_tls(tmp_path, monkeypatch) -> ssl.SSLContext:
    """A server certificate from a throwaway authority that the client trusts."""
    authority = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(context)
    authority.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))
    return context


def accept_ada(server, session, envelope, mechanism, auth_data) -> AuthResult:
    """Logins for the tests: ada / secret."""
    return AuthResult(
        success=(auth_data.login, auth_data.password) == (b"ada", b"secret")
    )


def point_at(app, inbox: Inbox, **settings) -> None:
    app.config.update(
        MAIL_BACKEND="smtp", MAIL_SERVER="127.0.0.1", MAIL_PORT=inbox.port, **settings
    )


def test_starttls_and_login(app, server_tls):
    """MAIL_USE_TLS upgrades the connection, then logs in, then sends."""
    with smtp_server(
        tls_context=server_tls,
        require_starttls=True,
        authenticator=accept_ada,
        auth_require_tls=True,
    ) as inbox:
        point_at(
            app, inbox, MAIL_USE_TLS=True, MAIL_USERNAME="ada", MAIL_PASSWORD="secret"
        )
        with app.app_context():
            send_message(welcome(app))
    assert len(inbox.messages) == 1


def test_implicit_tls(app, server_tls):
    """MAIL_USE_SSL speaks TLS from the first byte (port 465 style)."""
    with smtp_server(ssl_context=server_tls) as inbox:
        point_at(app, inbox, MAIL_USE_SSL=True)
        with app.app_context():
            send_message(welcome(app))
    assert len(inbox.messages) == 1
