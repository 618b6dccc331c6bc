"""Sending e-mail: over SMTP, to the log, or into a list for tests.

`MAIL_BACKEND` (see app/config.py) picks the way. SMTP failures are sorted
into those worth another try (`TemporaryMailError`) and the rest.
"""

import logging
import smtplib
import ssl
from email.message import EmailMessage

from flask import current_app

logger = logging.getLogger(__name__)

# Seconds to wait for the mail server before trying again later.
SMTP_TIMEOUT = 10


class TemporaryMailError(Exception):
    """The server could not take the message now; a later try may succeed."""


def build_message(to: str, subject: str, text: str, html: str) -> EmailMessage:
    """A message with a plain-text body and an HTML alternative."""
    message = EmailMessage()
    message["From"] = current_app.config["MAIL_DEFAULT_SENDER"]
    message["To"] = to
    message["Subject"] = subject
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message


def send_message(message: EmailMessage) -> None:
    """Hand `message` to the configured backend."""
    backend = current_app.config["MAIL_BACKEND"]
    if backend == "smtp":
        send_over_smtp(message)
    elif backend == "memory":
        current_app.extensions.setdefault("mail_outbox", []).append(message)
    else:
        logger.info("E-mail not sent (no MAIL_SERVER set):\n%s", message)


def send_over_smtp(message: EmailMessage) -> None:
    """Send over SMTP; raise TemporaryMailError where a retry may help."""
    try:
        with smtp_connection() as smtp:
            smtp.send_message(message)
    except smtplib.SMTPRecipientsRefused as error:
        codes = [code for code, _ in error.recipients.values()]
        if all(400 <= code < 500 for code in codes):
            raise TemporaryMailError(f"recipients refused: {codes}") from error
        raise
    except smtplib.SMTPResponseException as error:
        if 400 <= error.smtp_code < 500:
            raise TemporaryMailError(f"server replied {error.smtp_code}") from error
        raise
    except smtplib.SMTPNotSupportedError:
        raise
    except OSError as error:
        # Includes refused connections, timeouts and dropped connections.
        raise TemporaryMailError(f"cannot reach the mail server: {error}") from error


def smtp_connection() -> smtplib.SMTP:
    """An open, logged-in connection to `MAIL_SERVER`."""
    settings = current_app.config
    host, port = settings["MAIL_SERVER"], settings["MAIL_PORT"]
    timeout = SMTP_TIMEOUT
    if settings["MAIL_USE_SSL"]:
        context = ssl.create_default_context()
        smtp = smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
    else:
        smtp = smtplib.SMTP(host, port, timeout=timeout)
    try:
        if settings["MAIL_USE_TLS"]:
            smtp.starttls(context=ssl.create_default_context())
        if settings["MAIL_USERNAME"]:
            smtp.login(settings["MAIL_USERNAME"], settings["MAIL_PASSWORD"] or "")
    except BaseException:
        smtp.close()
        raise
    return smtp
