"""Redis behind Sentinel: `sentinel://` URLs and CELERY_SENTINEL_MASTER.

No server is needed: these tests read the settings each part is given.
The template's own tests run a master, a replica and three Sentinels, and
kill the master under a running project.
"""

import pytest
from limits.storage import storage_from_string

from app import create_app
from app.config import ConfigurationError
from app.platform.redis_channel_close import SentinelChannel, SentinelTransport
from app.platform.sentinel import rate_limit_storage

SENTINELS = "sentinel://10.0.0.1:26379;sentinel://10.0.0.2:26380"


def sentinel_app(**settings):
    """The testing app on Sentinel: broker, results and rate limits."""
    return create_app(
        "testing",
        {
            "CELERY_BROKER_URL": SENTINELS,
            "CELERY_RESULT_BACKEND": SENTINELS,
            "CELERY_SENTINEL_MASTER": "mymaster",
            **settings,
        },
    )


@pytest.mark.parametrize("variable", ["CELERY_BROKER_URL", "CELERY_RESULT_BACKEND"])
def test_a_sentinel_url_without_the_masters_name_stops_the_app(variable):
    """Kombu would fail at the first connection; the app refuses to start."""
    with pytest.raises(
        ConfigurationError, match=f"^CELERY_SENTINEL_MASTER is not set: {variable} "
    ) as refused:
        create_app("testing", {variable: SENTINELS, "CELERY_SENTINEL_MASTER": None})
    assert "\n" not in str(refused.value)


def test_broker_and_results_ask_the_sentinels_for_the_master():
    """The master's name joins the transport options; the others stay."""
    conf = sentinel_app().extensions["celery"].conf
    broker = conf.broker_transport_options
    assert broker["master_name"] == "mymaster"
    assert broker["visibility_timeout"] == 3600
    assert broker["socket_timeout"] == 2
    # No retries: a Sentinel that does not answer is passed over at once.
    timeouts = {"socket_timeout": 2, "socket_connect_timeout": 2, "retry": None}
    assert broker["sentinel_kwargs"] == timeouts
    results = conf.result_backend_transport_options
    assert results["master_name"] == "mymaster"
    assert results["retry_policy"] == {"timeout": 2.0}
    assert results["sentinel_kwargs"] == timeouts


def test_redis_urls_need_no_masters_name():
    """Only sentinel:// URLs get Sentinel's options."""
    app = create_app("testing", {"CELERY_SENTINEL_MASTER": "mymaster"})
    conf = app.extensions["celery"].conf
    assert "master_name" not in conf.broker_transport_options
    assert "master_name" not in conf.result_backend_transport_options


def test_sentinel_gets_the_redis_restart_workaround():
    """app/platform/redis_channel_close.py applies through Sentinel too."""
    celery = sentinel_app().extensions["celery"]
    with celery.connection_for_read() as connection:
        assert connection.get_transport_cls() is SentinelTransport
        assert SentinelTransport.Channel is SentinelChannel
        assert connection.as_uri().startswith("sentinel://")


def test_rate_limits_are_counted_on_the_master():
    """Flask-Limiter gets the `limits` library's form of the same Sentinels."""
    config = sentinel_app().config
    uri = config["RATELIMIT_STORAGE_URI"]
    assert uri == "redis+sentinel://10.0.0.1:26379,10.0.0.2:26380/mymaster"
    storage = storage_from_string(uri, **config["RATELIMIT_STORAGE_OPTIONS"])
    assert storage.service_name == "mymaster"
    assert not storage.use_replicas


def test_the_masters_credentials_and_database_go_to_the_master_only():
    """The first URL's password and database are the master's, as for Celery."""
    uri, options = rate_limit_storage(
        "sentinel://:s3cret@10.0.0.1:26379/2;sentinel://[::1]",
        "mymaster",
        {"socket_timeout": 2, "socket_connect_timeout": 2},
    )
    assert uri == "redis+sentinel://10.0.0.1:26379,[::1]:26379/mymaster"
    sentinel = storage_from_string(uri, **options).sentinel
    assert sentinel.connection_kwargs["password"] == "s3cret"
    assert sentinel.connection_kwargs["db"] == 2
    for client in sentinel.sentinels:
        assert client.connection_pool.connection_kwargs["password"] is None
        assert client.connection_pool.connection_kwargs["retry"] is None
