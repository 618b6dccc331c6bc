"""Flower's settings: `celery -A celery_worker.celery flower` reads this file.

Outside development Flower asks for a login: set FLOWER_BASIC_AUTH to
"user:password" (several pairs separated by commas).
https://flower.readthedocs.io/en/latest/config.html
"""

import os

import tornado.web
from flower.views.monitor import Metrics

port = int(os.environ.get("FLOWER_PORT", "5555"))
basic_auth = [
    pair for pair in os.environ.get("FLOWER_BASIC_AUTH", "").split(",") if pair
]

if not basic_auth and os.environ.get("APP_ENV", "development") != "development":
    raise SystemExit("FLOWER_BASIC_AUTH is not set: Flower needs a login here.")

# Flower 2.2 serves /metrics (task names, worker names and counts) without
# asking for the login every other page asks for: ask for it there too.
# Prometheus sends it with `basic_auth` in its scrape config.
# tests/test_flower.py checks both pages; pyproject.toml pins flower <2.3.
Metrics.get = tornado.web.authenticated(Metrics.get)
