"""Celery's Redis broker transport and result store, minus two costs per task
and a crash when Redis restarts under a running worker.

The channel and the result store are kombu's and Celery's own classes with
one method changed each; the other classes only wire them in, for Redis
reached directly (`redis://`) or through Sentinel (`sentinel://`). The
gains are measured by `benchmarks/bench.py` in the template's repository.
The methods replaced here are private to kombu and Celery: pyproject.toml
pins the versions this was written against, and
tests/test_celery_redis.py fails when a new release changes one of them.
"""

import contextlib
from collections.abc import Iterator
from contextlib import contextmanager

import kombu
from celery.app.amqp import AMQP
from celery.backends.redis import RedisBackend, SentinelBackend
from kombu.transport import redis
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError


class RedisChannel(redis.Channel):
    """Kombu's Redis channel, reusing one client instead of building one a call.

    Kombu builds a fresh `redis.Redis` client for each bookkeeping call: to
    record a delivered message as unacknowledged, to acknowledge it, and to
    publish one. The worker's main process, which limits a prefork worker's
    throughput, spent about a tenth of its time building them. Redis
    clients are thread-safe (each command borrows a connection from the
    pool), so one per connection pool serves every call; a new pool (after
    a fork or a reconnect) gets a new client. Delivery and acknowledgement
    are unchanged: only where the client comes from differs. And closing it
    survives a broker that went away (see `close`).
    """

    _shared_client: Redis | None = None

    @contextmanager
    def conn_or_acquire(self, client: Redis | None = None) -> Iterator[Redis]:
        if client:
            yield client
            return
        if self.connection is None or self.connection.client is None:
            # Kombu closes a channel after its connection is gone (Redis went
            # away), and closing restores the channel's unacknowledged
            # messages: with no connection left, that must fail as a
            # connection error, which the worker recovers from, not as the
            # AttributeError that stopped it. The messages stay in Redis's
            # unacked hash for the visibility timeout to hand out again.
            # Once closed, the channel has no connection at all: a task that
            # ran on through a short restart is acknowledged here, and that
            # too must fail as a connection error (the close had put its
            # message back on the queue: it runs again).
            raise RedisConnectionError("the broker connection is closed")
        pool = self.pool
        if (
            self._shared_client is None
            or self._shared_client.connection_pool is not pool
        ):
            self._shared_client = self._create_client()
        yield self._shared_client

    def close(self) -> None:
        """Kombu's close, surviving a broker that went away mid-read.

        When Redis goes away, the worker closes the channel while its
        blocking read of the queue is still pending. Kombu's close finishes
        that read first and expects "no message", not the connection error
        it gets: the close stops half-way, and the worker later dies of an
        AttributeError (Celery 5.7, kombu 5.7). Finishing the read here,
        its error ignored, lets the close complete; the channel's late
        acknowledgements still reach Redis once it is back.
        """
        if self._in_poll:
            with contextlib.suppress(Exception):
                self._brpop_read()
        super().close()


class RedisTransport(redis.Transport):
    """The `redis://` transport with the channel above."""

    Channel = RedisChannel


class SentinelChannel(RedisChannel, redis.SentinelChannel):
    """Kombu's Sentinel channel (it asks the Sentinels where the master is)
    with the changes above: kombu's own dies as the Redis one does when the
    master restarts under a waiting worker."""


class SentinelTransport(redis.SentinelTransport):
    """The `sentinel://` transport with the channel above."""

    Channel = SentinelChannel


class Connection(kombu.Connection):
    """Kombu's connection, with the transports above for `redis://` and
    `sentinel://` URLs.

    Picking the class here rather than with Celery's `broker_transport`
    setting keeps the URL's scheme, so the worker's banner, `as_uri()` and
    Flower still see `redis://`. `rediss://` keeps kombu's own transport,
    which turns TLS on by its name.
    """

    def get_transport_cls(self) -> type:
        if self.transport_cls == "redis":
            return RedisTransport
        if self.transport_cls == "sentinel":
            return SentinelTransport
        return super().get_transport_cls()

    def Pool(self, limit: int | None = None, **kwargs) -> "ConnectionPool":
        """Kombu's pool of connections (what tasks are sent through), of these."""
        return ConnectionPool(self, limit, **kwargs)


class PooledConnection(Connection, kombu.connection.PooledConnection):
    """Kombu's pooled connection, with the transport above."""


class ConnectionPool(kombu.connection.ConnectionPool):
    """Kombu's pool, handing out the pooled connection above.

    Celery sends every task through such a pool; kombu's own would hand out
    its own connection class, and with it kombu's channel.
    """

    def new(self) -> PooledConnection:
        return PooledConnection(self, **dict(self.connection._info(resolve=False)))


class Messaging(AMQP):
    """Celery's messaging layer (its `amqp` class), with the connection above."""

    Connection = Connection


class PolledRedisBackend(RedisBackend):
    """Celery's Redis result store, minus the wait-for-result subscription.

    Stock Celery subscribes to a task's result channel each time it sends
    the task, in case the sender waits for the result. Nothing here waits:
    pages poll GET /tasks/<id>. Skipping it saves a round trip per task,
    and when Redis is down sending fails fast instead of retrying the
    subscription for seconds. `AsyncResult.get()` still works: it subscribes
    when it is called.
    """

    def on_task_call(self, producer, task_id: str) -> None:
        return None  # as the base class does, minus its subscription


class PolledSentinelBackend(SentinelBackend):
    """The same result store for `sentinel://` URLs."""

    on_task_call = PolledRedisBackend.on_task_call
