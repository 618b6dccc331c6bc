"""Account pages: register an address, confirm it from the mailed link."""

from flask import Blueprint, flash, redirect, render_template, url_for

from app.accounts import (
    claim_confirmation,
    confirm_address,
    confirmation_token,
    external_url,
    normalise_email,
    release_confirmation,
)
from app.forms.account import RegistrationForm
from app.platform.errors import BROKER_ERRORS
from app.platform.limits import limiter, register_rate_limit
from app.tasks.email import send_confirmation_email

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
