"""The application factory: one place wires Flask, the database, Celery, views."""

import os
from collections.abc import Mapping
from typing import Any

from flask import Flask
from flask_wtf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from app.accounts import login_manager
from app.config import CONFIG_BY_NAME, ConfigurationError
from app.platform.celery import celery_init_app
from app.platform.database import database_init_app
from app.platform.errors import register_error_handlers
from app.platform.limits import limits_init_app
from app.platform.logs import request_ids_init_app
from app.platform.metrics import metrics_init_app
from app.platform.security import security_headers_init_app
from app.platform.sentry import sentry_init_app
from app.platform.tracing import tracing_init_app
from app.views import account, health, home, openapi

# Not `tasks`: the name would hide the package app.tasks.
from app.views import tasks as task_api

csrf = CSRFProtect()


def create_app(
    config_name: str | None = None, overrides: Mapping[str, Any] | None = None
) -> Flask:
    """Build the app for `config_name` (default: `APP_ENV`, else development).

    `overrides` replaces single settings after the config class is loaded;
    tests use it to point the app at their own broker.
    """
    config_name = config_name or os.environ.get("APP_ENV") or "development"
    if config_name not in CONFIG_BY_NAME:
        raise ConfigurationError(
            f"APP_ENV={config_name!r} is not one of: {', '.join(CONFIG_BY_NAME)}."
        )
    config_class = CONFIG_BY_NAME[config_name]

    app = Flask(__name__)
    app.config.from_object(config_class)
    app.config.update(overrides or {})
    config_class.check(app.config)

    # First, so that every answer is counted and carries its request id.
    request_ids_init_app(app)
    metrics_init_app(app)
    sentry_init_app(app.config)
    csrf.init_app(app)
    login_manager.init_app(app)
    database_init_app(app)
    celery_init_app(app)
    register_error_handlers(app)
    limits_init_app(app)
    if proxies := app.config["FORWARDED_PROXIES"]:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)
    security_headers_init_app(app)
    tracing_init_app(app)

    app.register_blueprint(home.bp)
    app.register_blueprint(account.bp)
    app.register_blueprint(task_api.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(openapi.bp)
    # The JSON API takes JSON only and refuses other sites' pages
    # (app/platform/security.py): the forms' CSRF token is not its guard.
    csrf.exempt(task_api.bp)
    return app
