"""GET /healthz: can this web process serve? Broker, result store, database.

Workers are not asked: a busy worker answers no ping, and a load balancer
must not take the site down because every worker is at work. A worker's
health is its own ping: `celery -A celery_worker.celery inspect ping -d NODE`.
"""

import logging
from collections.abc import Callable

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text

from app.models import db
from app.platform.limits import QueueGauge

logger = logging.getLogger(__name__)

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """200 when every service answers; 503 JSON naming those that do not."""
    checks: dict[str, Callable[[], object]] = {
        "broker": check_broker,
        "result_store": check_result_store,
        "database": check_database,
    }
    states = {
        name: "up" if answers(name, check) else "down" for name, check in checks.items()
    }
    down = [name for name, state in states.items() if state == "down"]
    if down:
        return jsonify(error=f"Unreachable: {', '.join(down)}.", **states), 503
    return jsonify(status="ok", **states)


def answers(name: str, check: Callable[[], object]) -> bool:
    """True if `check` ran without error.

    Any error (refused, timed out, a wrong password) means the service
    cannot serve this process; it is logged, and the answer is "down".
    """
    try:
        check()
    except Exception as error:
        logger.warning("Health check: %s is down: %r", name, error)
        return False
    return True


def check_broker() -> None:
    """The queue's length, read from the broker now, on a pooled connection."""
    QueueGauge.read(current_app.extensions["celery"])


def check_result_store() -> None:
    current_app.extensions["celery"].backend.get("healthz")


def check_database() -> None:
    db.session.execute(text("SELECT 1"))
