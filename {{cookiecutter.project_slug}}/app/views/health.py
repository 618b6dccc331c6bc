"""GET /healthz: is the web tier up, the broker reachable, a worker answering?"""

from flask import Blueprint, current_app, jsonify
from kombu.exceptions import OperationalError

bp = Blueprint("health", __name__)

# Seconds to wait for the broker, then for workers to answer a ping.
BROKER_TIMEOUT = 2
PING_TIMEOUT = 1


@bp.get("/healthz")
def healthz():
    """200 when a worker answers through the broker; 503 JSON naming what fails."""
    celery = current_app.extensions["celery"]
    try:
        with celery.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT)
    except (OperationalError, OSError):
        return jsonify(
            error="The broker is unreachable.", broker="down", workers=0
        ), 503
    workers = len(celery.control.ping(timeout=PING_TIMEOUT))
    if not workers:
        return jsonify(error="No worker answered.", broker="up", workers=0), 503
    return jsonify(status="ok", broker="up", workers=workers)
