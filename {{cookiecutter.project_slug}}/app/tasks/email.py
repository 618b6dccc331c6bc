"""E-mail sent in the background, so a page never waits for a mail server."""

from celery import shared_task
from flask import current_app, render_template

from app.models import User, db
from app.platform.mail import TemporaryMailError, build_message, send_message

MAIL_TASK_OPTIONS = {
    # A mail server that is down or answers 4xx is tried again with
    # exponential back-off and full jitter: first tries within seconds, never
    # more than a minute apart, for about a quarter of an hour in all. 5xx
    # answers fail at once.
    # https://docs.celeryq.dev/en/stable/userguide/tasks.html#automatic-retry-for-known-exceptions
    "autoretry_for": (TemporaryMailError,),
    "retry_backoff": 1,
    "retry_backoff_max": 60,
    "retry_jitter": True,
    "max_retries": 20,
    # Acknowledged once sent: a worker that dies before handing the message
    # to the server leaves it to another worker. One that dies in the instant
    # between the server's "250 OK" and the acknowledgement sends it twice;
    # losing the mail instead would be worse.
    "acks_late": True,
    "reject_on_worker_lost": True,
    # Nobody reads a mail's result: storing none saves four Redis commands.
    "ignore_result": True,
}


@shared_task(**MAIL_TASK_OPTIONS)
def send_confirmation_email(user_id: int, link: str) -> None:
    """Mail `link` to a new user, unless the address was confirmed meanwhile.

    The task takes the user's id, not the user: it reads the row as it is
    when the mail goes out, in the task's own database session.
    """
    user = db.session.get(User, user_id)
    if user is None or user.confirmed_at is not None:
        return
    send_templated_email(
        user.email, "confirm", "Confirm your address for {project}", link=link
    )


@shared_task(**MAIL_TASK_OPTIONS)
def send_sign_in_email(user_id: int, link: str) -> None:
    """Mail a sign-in `link` to a user's address."""
    user = db.session.get(User, user_id)
    if user is None:
        return
    minutes = current_app.config["LOGIN_LINK_MINUTES"]
    send_templated_email(
        user.email, "sign_in", "Sign in to {project}", link=link, minutes=minutes
    )


@shared_task(**MAIL_TASK_OPTIONS)
def send_test_email(address: str) -> None:
    """Check the mail settings (`python manage.py send-test-email ADDRESS`)."""
    send_templated_email(address, "test", "Test message from {project}")


def send_templated_email(
    address: str, template: str, subject: str, **context: object
) -> None:
    """Render `email/<template>.txt` and `.html` and send them to `address`."""
    project = current_app.config["PROJECT_NAME"]
    context.update(project=project, address=address)
    message = build_message(
        to=address,
        subject=subject.format(project=project),
        text=render_template(f"email/{template}.txt", **context),
        html=render_template(f"email/{template}.html", **context),
    )
    send_message(message)
