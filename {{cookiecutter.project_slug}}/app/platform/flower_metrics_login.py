"""Workaround: Flower serves /metrics without the login its other pages ask for.

Flower 2.2 with `basic_auth` set asks every page for the login but one:
/metrics, which names every task and worker and counts them. The fix puts
the same login in front of it (Prometheus sends it: `basic_auth` in its
scrape config). tests/test_flower.py runs a stock Flower with a login: the
day its /metrics asks for the login too, delete this module and its call
in flowerconfig.py.
"""

import tornado.web
from flower.views.monitor import Metrics


def require_login_for_metrics() -> None:
    Metrics.get = tornado.web.authenticated(Metrics.get)
