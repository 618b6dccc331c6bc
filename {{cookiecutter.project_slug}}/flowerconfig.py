"""Flower's settings: `celery -A celery_worker.celery flower` reads this file.

Outside development Flower asks for a login: FLOWER_BASIC_AUTH holds
"user:password" pairs, separated by commas (the bake wrote one to .env).
https://flower.readthedocs.io/en/latest/config.html
"""

import os

from app.platform.flower_metrics_login import require_login_for_metrics

port = int(os.environ.get("FLOWER_PORT", "5555"))
basic_auth = [
    pair for pair in os.environ.get("FLOWER_BASIC_AUTH", "").split(",") if pair
]

if not basic_auth and os.environ.get("APP_ENV", "development") != "development":
    raise SystemExit("FLOWER_BASIC_AUTH is not set: Flower needs a login here.")

require_login_for_metrics()
