"""Redis behind Sentinel: `sentinel://h1:p1;sentinel://h2:p2` URLs.

Celery, kombu and the rate limiter ask the Sentinels where the master named
`CELERY_SENTINEL_MASTER` is, and follow it when it fails over. This module
turns the one URL into what each of them takes.
https://docs.celeryq.dev/en/stable/getting-started/backends-and-brokers/redis.html#configuration
"""

from typing import Any
from urllib.parse import SplitResult, unquote, urlsplit

SENTINEL_PORT = 26379


def is_sentinel(url: str | None) -> bool:
    """A Redis reached through Sentinel (`sentinel://h1:p1;sentinel://h2:p2`)."""
    return bool(url) and url.startswith("sentinel://")


def sentinel_kwargs(timeouts: dict[str, float]) -> dict[str, Any]:
    """How to call one Sentinel: time-outs as for Redis, and no retries.

    redis-py 6+ retries a call three times with back-off (12 to 15 s with
    2 s time-outs, measured) before it asks the next Sentinel in the list:
    one Sentinel on a host cut off from the network would hold every request
    that looks for the master longer than a 503 may take. `retry=None`
    makes it ask the next one at once.
    """
    return {**timeouts, "retry": None}


def with_sentinel(
    options: dict[str, Any], master: str, timeouts: dict[str, float]
) -> dict[str, Any]:
    """Celery's transport `options` plus what a `sentinel://` URL needs
    (Celery's result store sets no time-out for the Sentinels itself)."""
    return {
        **options,
        "master_name": master,
        "sentinel_kwargs": sentinel_kwargs(timeouts),
    }


def rate_limit_storage(
    url: str, master: str, timeouts: dict[str, float]
) -> tuple[str, dict[str, Any]]:
    """The `limits` library's URI and options for Celery's `sentinel://` URL.

    Celery lists the Sentinels as `sentinel://h1:p1;sentinel://h2:p2`, the
    master's credentials and database in the first; `limits` wants
    `redis+sentinel://h1:p1,h2:p2/MASTER`. As kombu and Celery do, it asks
    the Sentinels without the master's credentials (limits would send them
    to both), and it reads the counts where it writes them: on the master.
    """
    parts = [urlsplit(part) for part in url.split(";")]
    hosts = ",".join(sentinel_address(part) for part in parts)
    first = parts[0]
    options: dict[str, Any] = {
        **timeouts,
        "sentinel_kwargs": {
            **sentinel_kwargs(timeouts),
            "username": None,
            "password": None,
        },
        "use_replicas": False,
        "db": int(first.path.strip("/") or 0),
    }
    if first.username:
        options["username"] = unquote(first.username)
    if first.password:
        options["password"] = unquote(first.password)
    return f"redis+sentinel://{hosts}/{master}", options


def sentinel_address(url: SplitResult) -> str:
    """`host:port` of one Sentinel; an IPv6 address in brackets."""
    host = url.hostname or "localhost"
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{url.port or SENTINEL_PORT}"
