"""The Redis transport that reuses one client: same delivery, fewer clients."""

import hashlib
import importlib
import inspect
import ssl
import textwrap
import uuid

import pytest
from kombu import Queue
from kombu.transport import redis

from app import create_app
from app.platform.celery_redis import Connection, RedisChannel, RedisTransport


@pytest.fixture
def redis_url(broker_urls: dict) -> str:
    """A real Redis: the result store is Redis whichever broker is chosen."""
    return broker_urls["CELERY_RESULT_BACKEND"]


@pytest.fixture
def connection(redis_url: str):
    with Connection(redis_url) as connection:
        yield connection


def broker_connection(broker_url: str) -> Connection:
    """The connection the app's Celery makes for `broker_url`."""
    app = create_app("testing", {"CELERY_BROKER_URL": broker_url})
    return app.extensions["celery"].connection_for_write()


def test_a_redis_broker_gets_the_transport_and_keeps_its_url(redis_url):
    with broker_connection(redis_url) as connection:
        assert isinstance(connection.default_channel, RedisChannel)
        # What the worker's banner and Flower read.
        assert connection.as_uri().startswith("redis://")


def test_tasks_are_sent_through_the_transport(redis_url):
    """Sending goes through Celery's pool of connections: it gets the channel too."""
    app = create_app("testing", {"CELERY_BROKER_URL": redis_url})
    with app.extensions["celery"].producer_or_acquire() as producer:
        assert isinstance(producer.channel, RedisChannel)
        assert producer.connection.as_uri().startswith("redis://")


def test_a_tls_broker_keeps_kombus_own_transport():
    """rediss:// must keep TLS, which kombu keys on its own transport's name."""
    with broker_connection("rediss://localhost:6380/0") as connection:
        assert connection.get_transport_cls() is redis.Transport
        assert connection.ssl


def test_messages_are_acknowledged_through_one_client(connection):
    queue = Queue(f"test-{uuid.uuid4().hex}")
    channel = connection.default_channel
    with connection.Producer() as producer:
        for number in range(5):
            producer.publish({"n": number}, routing_key=queue.name, declare=[queue])
    received = []
    clients = set()

    def on_message(body, message):
        message.ack()
        received.append(body["n"])
        with channel.conn_or_acquire() as client:
            clients.add(id(client))

    with connection.Consumer(queue, callbacks=[on_message]):
        while len(received) < 5:
            connection.drain_events(timeout=5)
    assert sorted(received) == [0, 1, 2, 3, 4]
    assert len(clients) == 1
    with channel.conn_or_acquire() as client:
        assert client.hlen(channel.unacked_key) == 0
    queue(channel).delete()


def test_an_unacknowledged_message_is_delivered_again(redis_url):
    """Reliability is kombu's: a message taken but never acked comes back."""
    queue = Queue(f"test-{uuid.uuid4().hex}")
    with Connection(redis_url) as connection:
        with connection.Producer() as producer:
            producer.publish({"n": 1}, routing_key=queue.name, declare=[queue])
        message = queue(connection.default_channel).get(no_ack=False)
        assert message.payload == {"n": 1}
        # Closing without an ack, as a worker that stops does.
    with Connection(redis_url) as connection:
        again = queue(connection.default_channel).get(no_ack=False)
        assert again is not None and again.payload == {"n": 1}
        again.ack()
        queue(connection.default_channel).delete()


def test_a_new_pool_gets_a_new_client(connection):
    """After a fork or a reconnect the channel's pool is new: so is the client."""
    assert isinstance(connection.transport, RedisTransport)
    channel = connection.default_channel
    with channel.conn_or_acquire() as before:
        pass
    channel._after_fork()
    with channel.conn_or_acquire() as after:
        assert after is not before
        assert after.connection_pool is channel.pool
        assert after.ping()


@pytest.mark.parametrize(
    ("query", "verify_mode"),
    [
        ("", ssl.CERT_REQUIRED),
        ("?ssl_cert_reqs=CERT_NONE", ssl.CERT_NONE),
    ],
)
def test_a_tls_redis_checks_certificates_unless_told_not_to(query, verify_mode):
    """A bare rediss:// URL verifies the server, for queue and results alike."""
    url = f"rediss://localhost:6380/0{query}"
    app = create_app(
        "testing", {"CELERY_BROKER_URL": url, "CELERY_RESULT_BACKEND": url}
    )
    celery = app.extensions["celery"]
    with celery.connection_for_write() as connection:
        assert connection.ssl["ssl_cert_reqs"] == verify_mode
    assert celery.backend.connparams["ssl_cert_reqs"] == verify_mode


# SHA-256 (first 16 hex digits) of the upstream methods app/platform/celery_redis.py
# replaces, as written in kombu and Celery 5.6 to 5.7: the versions it was
# written against and is tested with (pyproject.toml pins that range).
REPLACED = {
    "kombu.transport.redis.Channel.conn_or_acquire": "01ab44dd770603a6",
    "kombu.transport.redis.Channel.close": "8b98e8d4dc50ba00",
    # The Sentinel classes inherit them, unchanged.
    "kombu.transport.redis.SentinelChannel.conn_or_acquire": "01ab44dd770603a6",
    "kombu.transport.redis.SentinelChannel.close": "8b98e8d4dc50ba00",
    "celery.backends.redis.SentinelBackend.on_task_call": "3aefd80e320b7a13",
    "kombu.Connection.get_transport_cls": "c2990a8a03fae834",
    "kombu.Connection.Pool": "0cd5d0686bbc4af0",
    "kombu.connection.ConnectionPool.new": "7510ec39fa36f852",
    "celery.backends.redis.RedisBackend.on_task_call": "3aefd80e320b7a13",
}


@pytest.mark.parametrize("name", REPLACED)
def test_the_replaced_upstream_methods_are_unchanged(name):
    """A new kombu or Celery that changes a method we replace fails here.

    Then read the new upstream method, bring app/platform/celery_redis.py in line
    with it (or drop the replacement), and record the new digest.
    """
    module_name, class_name, method_name = name.rsplit(".", 2)
    method = getattr(
        getattr(importlib.import_module(module_name), class_name), method_name
    )
    source = textwrap.dedent(inspect.getsource(method))
    assert hashlib.sha256(source.encode()).hexdigest()[:16] == REPLACED[name], (
        f"{name} changed upstream: re-check app/platform/celery_redis.py"
    )
