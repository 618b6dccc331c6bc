"""E-mail sent in the background, so a page never waits for a mail server."""

from celery import shared_task
from flask import current_app, render_template

from app.mail import TemporaryMailError, build_message, send_message

# A mail server that is down or answers 4xx is tried again with exponential
# back-off and full jitter: first tries within seconds, never more than a
# minute apart, for about a quarter of an hour in all. 5xx answers fail at once.
# https://docs.celeryq.dev/en/stable/userguide/tasks.html#automatic-retry-for-known-exceptions
RETRY_ON_TEMPORARY_ERRORS = {
    "autoretry_for": (TemporaryMailError,),
    "retry_backoff": 1,
    "retry_backoff_max": 60,
    "retry_jitter": True,
    "max_retries": 20,
}


@shared_task(**RETRY_ON_TEMPORARY_ERRORS)
def send_welcome_email(address: str) -> None:
    """Welcome a newly registered user."""
    send_templated_email(address, "welcome", "Welcome to {project}")


@shared_task(**RETRY_ON_TEMPORARY_ERRORS)
def send_test_email(address: str) -> None:
    """Check the mail settings (`python manage.py send-test-email ADDRESS`)."""
    send_templated_email(address, "test", "Test message from {project}")


def send_templated_email(address: str, template: str, subject: str) -> None:
    """Render `email/<template>.txt` and `.html` and send them to `address`."""
    project = current_app.config["PROJECT_NAME"]
    context = {"project": project, "address": address}
    message = build_message(
        to=address,
        subject=subject.format(project=project),
        text=render_template(f"email/{template}.txt", **context),
        html=render_template(f"email/{template}.html", **context),
    )
    send_message(message)
