"""Account pages: registration hands the welcome e-mail to a task."""

from flask import Blueprint, flash, redirect, render_template, url_for

from app.forms.account import RegistrationForm
from app.tasks.email import send_welcome_email

bp = Blueprint("account", __name__, url_prefix="/account")


@bp.route("/register", methods=["GET", "POST"])
def register():
    """Show the form; a valid address gets a welcome mail in the background."""
    form = RegistrationForm()
    if form.validate_on_submit():
        send_welcome_email.delay(form.email.data)
        flash(f"Welcome! A message is on its way to {form.email.data}.", "success")
        return redirect(url_for("account.registered"))
    status = 400 if form.errors else 200
    return render_template("account/register.html", form=form), status


@bp.get("/registered")
def registered():
    return render_template("account/registered.html")
