"""Forms of the account pages."""

from flask_wtf import FlaskForm
from wtforms import EmailField
from wtforms.validators import DataRequired, Email, Length


def email_field() -> EmailField:
    # RFC 5321 caps an address at 254 characters. The Email validator
    # (email-validator) refuses CR/LF, so no header can be smuggled in.
    return EmailField(
        "E-mail address",
        validators=[DataRequired(), Length(max=254), Email()],
    )


class RegistrationForm(FlaskForm):
    """Register an e-mail address; the welcome mail goes to it."""

    email = email_field()


class LoginForm(FlaskForm):
    """Ask for a sign-in link to an address."""

    email = email_field()
