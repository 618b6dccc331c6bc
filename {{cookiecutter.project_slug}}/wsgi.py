"""The web server's entry point.

    gunicorn wsgi:app

Settings come from the environment (or `.env`): see `.env.example`.
"""

from app import create_app

app = create_app()
