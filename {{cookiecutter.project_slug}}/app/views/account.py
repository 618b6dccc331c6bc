"""Account pages: register, confirm the address, sign in by link, sign out."""

from flask import Blueprint, flash, redirect, render_template, url_for

from app.accounts import (
    claim_confirmation,
    claim_sign_in,
    confirm_address,
    confirmation_token,
    external_url,
    normalise_email,
    release_confirmation,
    release_sign_in,
    sign_in_token,
    use_sign_in_token,
)
from app.forms.account import LoginForm, RegistrationForm
from app.owners import sign_in, sign_out
from app.platform.errors import BROKER_ERRORS
from app.platform.limits import limiter, register_rate_limit
from app.tasks.email import send_confirmation_email, send_sign_in_email

bp = Blueprint("account", __name__, url_prefix="/account")


@bp.route("/register", methods=["GET", "POST"])
@limiter.limit(register_rate_limit, methods=["POST"])
def register():
    """Show the form; a valid address is stored and sent a confirmation link.

    Every valid post gets the same answer, so the page never tells whether
    an address was registered before.
    """
    form = RegistrationForm()
    if not form.validate_on_submit():
        status = 400 if form.errors else 200
        return render_template("account/register.html", form=form), status
    user = claim_confirmation(normalise_email(form.email.data))
    if user is not None:
        link = external_url("account.confirm", token=confirmation_token(user))
        try:
            send_confirmation_email.delay(user.id, link)
        except BROKER_ERRORS:
            release_confirmation(user)
            raise
    flash(
        f"Thank you. If {form.email.data} still needs confirming, a message "
        "with a link is on its way to it.",
        "success",
    )
    return redirect(url_for("account.registered"))


@bp.get("/registered")
def registered():
    return render_template("account/registered.html")


@bp.get("/confirm/<token>")
def confirm(token: str):
    """Confirm the address the link was mailed to; a bad link is a 400 page."""
    user = confirm_address(token)
    if user is None:
        return render_template("account/confirm_failed.html"), 400
    return render_template("account/confirmed.html", email=user.email)


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(register_rate_limit, methods=["POST"])
def login():
    """Show the form; a registered address is mailed a sign-in link.

    Every valid post gets the same answer, whether the address is known or
    not; an address gets at most one link a minute.
    """
    form = LoginForm()
    if not form.validate_on_submit():
        status = 400 if form.errors else 200
        return render_template("account/login.html", form=form), status
    user = claim_sign_in(normalise_email(form.email.data))
    if user is not None:
        link = external_url("account.sign_in_by_link", token=sign_in_token(user))
        try:
            send_sign_in_email.delay(user.id, link)
        except BROKER_ERRORS:
            release_sign_in(user)
            raise
    flash(
        f"If {form.email.data} is registered, a sign-in link is on its way to it.",
        "success",
    )
    return redirect(url_for("account.login_sent"))


@bp.get("/login/sent")
def login_sent():
    return render_template("account/login_sent.html")


@bp.get("/login/<token>")
def sign_in_by_link(token: str):
    """Sign this browser in; a used, expired or forged link is a 400 page."""
    user = use_sign_in_token(token)
    if user is None:
        return render_template("account/sign_in_failed.html"), 400
    sign_in(user)
    return redirect(url_for("home.index"))


@bp.post("/logout")
def logout():
    """Sign out. Like every form post, it needs the page's CSRF token (400
    without: another site cannot sign you out)."""
    sign_out()
    return redirect(url_for("home.index"))
