"""The web server's entry point.

    gunicorn wsgi:app

Settings come from the environment (or `.env`): see `.env.example`.
"""

from gunicorn.errors import AppImportError

from app import create_app
from app.config import ConfigurationError

try:
    app = create_app()
except ConfigurationError as error:
    # gunicorn prints this one line, not a traceback, and stops.
    raise AppImportError(str(error)) from None
