"""The web server's entry point.

    gunicorn wsgi:app

Settings come from the environment (or `.env`): see `.env.example`. It
serves what APP_ENV names, and refuses to start without it: a clone with no
`.env` must not serve development's debug mode (`python manage.py dev`
serves development).
"""

import os

from flask import Flask
from gunicorn.errors import AppImportError

from app import create_app
from app.config import ConfigurationError
from app.platform.settings import PUBLISHED_SECRET_KEYS


def web_app() -> Flask:
    """The app for APP_ENV; never debug mode on a key published with the template."""
    if not os.environ.get("APP_ENV", "").strip():
        raise ConfigurationError(
            "APP_ENV is not set: gunicorn serves APP_ENV=production or staging "
            "(python manage.py dev serves development)."
        )
    app = create_app()
    if app.debug and app.secret_key in PUBLISHED_SECRET_KEYS:
        raise ConfigurationError(
            "SECRET_KEY is not set: debug mode would serve on the development "
            "key published with this template."
        )
    return app


try:
    app = web_app()
except ConfigurationError as error:
    # gunicorn prints this one line, not a traceback, and stops.
    raise AppImportError(str(error)) from None
