"""Workaround: a worker on Redis dies when Redis restarts under a running task.

The bug (kombu 5.7; 5.6 lives through it): when Redis goes away, the worker
closes its channel while the channel's blocking read of the queue (BRPOP) is
still pending. kombu's `Channel.close` first finishes that read and expects "no
message"; it gets the connection error instead and stops half-way. The
worker's next close of the same channel then fails with an AttributeError,
and the worker exits ("Unrecoverable error"), leaving its running task's
message unacknowledged until the visibility timeout.

The fix: finish the pending read with its error ignored, then close as
kombu does. Nothing else changes. tests/test_redis_channel_close.py runs a
plain Celery worker through a Redis restart: the day it survives with
kombu's own channel, delete this module and `amqp=RedisRestartSafeAMQP`
in app/platform/celery.py.
"""

import contextlib

from celery.app.amqp import AMQP
from kombu import Connection
from kombu.transport import redis


class ClosesWhileReading:
    """The fix, for kombu's Redis channel classes."""

    def close(self) -> None:
        if self._in_poll:  # a BRPOP was sent and its answer not read
            with contextlib.suppress(Exception):
                self._brpop_read()
        super().close()


class RedisChannel(ClosesWhileReading, redis.Channel):
    pass


class RedisTransport(redis.Transport):
    Channel = RedisChannel
{%- if cookiecutter.use_redis_sentinel %}


class SentinelChannel(ClosesWhileReading, redis.SentinelChannel):
    pass


class SentinelTransport(redis.SentinelTransport):
    Channel = SentinelChannel
{%- endif %}


class RedisRestartSafeConnection(Connection):
    """kombu's connection, with the channel above for Redis URLs.

    The URL keeps its scheme (`redis://` in the worker's banner and Flower),
    and `rediss://` keeps TLS, which kombu turns on by that name.
    """

    def get_transport_cls(self) -> type:
        if self.transport_cls in ("redis", "rediss"):
            return RedisTransport
{%- if cookiecutter.use_redis_sentinel %}
        if self.transport_cls == "sentinel":
            return SentinelTransport
{%- endif %}
        return super().get_transport_cls()


class RedisRestartSafeAMQP(AMQP):
    """Celery's messaging, making its broker connections with the class above."""

    Connection = RedisRestartSafeConnection
