"""Start-up checks: a setting that could never work stops the app, named.

The message names the variable, never its value: it may hold a password.
gunicorn, the worker and manage.py print it as one line, not a traceback.
"""

from typing import Any
from urllib.parse import urlsplit

from limits import parse_many

# Keys published with this template: development and tests only.
DEVELOPMENT_SECRET_KEY = "dev-only-not-secret"  # noqa: S105
TESTING_SECRET_KEY = "testing-only-not-secret"  # noqa: S105
PUBLISHED_SECRET_KEYS = frozenset(
    {DEVELOPMENT_SECRET_KEY, TESTING_SECRET_KEY, "changeme", "secret"}
)
MIN_SECRET_KEY_LENGTH = 32

# URL schemes Celery is given: a typo (`rabbitmq://`, `redis://host:port`)
# stops the app at start instead of failing every request. (`memory` and
# `cache+memory` are the testing config's stand-ins.)
BROKER_SCHEMES = ("redis", "rediss", "amqp", "amqps", "pyamqp", "filesystem", "memory")
RESULT_SCHEMES = ("redis", "rediss", "file", "cache+memory")
{%- if cookiecutter.use_redis_sentinel %}
BROKER_SCHEMES += ("sentinel",)
RESULT_SCHEMES += ("sentinel",)
{%- endif %}
# The variables that hold per-client limits, such as "10/minute;100/hour".
RATE_LIMIT_SETTINGS = ("TASKS_RATE_LIMIT", "REGISTER_RATE_LIMIT")


class ConfigurationError(RuntimeError):
    """A setting is missing or malformed; the message names its variable."""


def check_settings(config_class: type, settings: dict[str, Any]) -> None:
    """Refuse what no environment can run on: a missing required setting,
    a Celery URL of an unknown scheme, a rate limit that does not parse."""
    for name, variable in config_class.REQUIRED_SETTINGS.items():
        if not settings.get(name):
            raise ConfigurationError(
                f"{variable} is not set: APP_ENV={config_class.ENV_NAME} needs it "
                "(see .env.example)."
            )
    for variable, schemes in [
        ("CELERY_BROKER_URL", BROKER_SCHEMES),
        ("CELERY_RESULT_BACKEND", RESULT_SCHEMES),
    ]:
        url = settings.get(variable)
        check_url(variable, url, schemes)
{%- if cookiecutter.use_redis_sentinel %}
        if (
            url
            and url.startswith("sentinel://")
            and not settings.get("CELERY_SENTINEL_MASTER")
        ):
            raise ConfigurationError(
                f"CELERY_SENTINEL_MASTER is not set: {variable} is a "
                "sentinel:// URL, which needs the master's name."
            )
{%- endif %}
    for name in RATE_LIMIT_SETTINGS:
        try:
            parse_many(settings[name])
        except ValueError:
            raise ConfigurationError(
                f"{name}={settings[name]!r} is not a rate limit such as "
                "'10/minute' or '10/minute;100/hour'."
            ) from None
    if settings.get("APP_BASE_URL"):
        check_url("APP_BASE_URL", settings["APP_BASE_URL"], ("http", "https"))


def check_production_settings(config_class: type, settings: dict[str, Any]) -> None:
    """Refuse a key anyone could know, and an SMTP password sent in clear."""
    for variable, keys in [
        ("SECRET_KEY", [settings["SECRET_KEY"]]),
        ("SECRET_KEY_FALLBACKS", settings["SECRET_KEY_FALLBACKS"]),
    ]:
        for key in keys:
            if len(key) < MIN_SECRET_KEY_LENGTH or key in PUBLISHED_SECRET_KEYS:
                raise ConfigurationError(
                    f"{variable} is too weak for APP_ENV={config_class.ENV_NAME}: "
                    f"use at least {MIN_SECRET_KEY_LENGTH} random characters "
                    "(see .env.example)."
                )
    if settings["MAIL_USERNAME"] and not (
        settings["MAIL_USE_TLS"] or settings["MAIL_USE_SSL"]
    ):
        raise ConfigurationError(
            "MAIL_USE_TLS or MAIL_USE_SSL must be set: with MAIL_USERNAME, "
            f"APP_ENV={config_class.ENV_NAME} does not send a password in clear."
        )


def check_url(variable: str, url: str | None, schemes: tuple[str, ...]) -> None:
    """A URL (or `;`-separated list) with a known scheme and a numeric port."""
    for part in url.split(";") if url else ():
        scheme, separator, _ = part.partition("://")
        if not separator or scheme not in schemes:
            known = ", ".join(f"{name}://" for name in schemes)
            found = scheme + separator if separator else "no scheme"
{%- if not cookiecutter.use_redis_sentinel %}
            if scheme == "sentinel":
                known += " (sentinel:// needs a bake with use_redis_sentinel)"
{%- endif %}
            raise ConfigurationError(
                f"{variable} must start with one of {known}; it starts with {found!r}."
            )
        try:
            _ = urlsplit(part).port  # parsed on access
        except ValueError:
            raise ConfigurationError(
                f"{variable} has a port that is not a number."
            ) from None
