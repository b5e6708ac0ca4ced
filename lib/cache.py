"""Django's Redis cache backend, keeping one `redis.Redis` client per server instead of one per call, and
sending every command through that server's circuit breaker (`lib.breaker`).

Django's `RedisCacheClient.get_client` wraps its (reused) connection pool in a new `redis.Redis`
object on every cache call, which copies ~170 response callbacks each time: ≈ 0.1 ms of CPU per
call, paid on every link click by the rate-limit counter (docs/performance.md). The pool, the
connections and every command stay exactly as in Django; the client object is kept. Django's
cache handler is per thread, so each thread still has its own client (and redis-py's pool
re-creates its connections after a fork).

A Redis that stops answering costs the one command that times out; after it, every cache command
raises `lib.breaker.CircuitOpen` at once until the breaker's probe finds the server back. Callers
already treat a cache error as "no cache" (rate limits answer their `when_unavailable`, pages render).
"""

from __future__ import annotations

import redis
from django.core.cache.backends.redis import RedisCache, RedisCacheClient

from lib.breaker import Breaker, breaker_for


class _GuardedPipeline(redis.client.Pipeline):
    breaker: Breaker

    def execute(self, raise_on_error: bool = True):
        with self.breaker.guard():
            return super().execute(raise_on_error)


class _GuardedRedis(redis.Redis):
    """A `redis.Redis` whose every command (Lua scripts included) and pipeline goes through `breaker`."""

    breaker: Breaker

    def execute_command(self, *args, **options):
        with self.breaker.guard():
            return super().execute_command(*args, **options)

    def pipeline(self, transaction: bool = True, shard_hint=None):
        pipe = _GuardedPipeline(self.connection_pool, self.response_callbacks, transaction, shard_hint)
        pipe.breaker = self.breaker
        return pipe


class ReusedClientRedisCacheClient(RedisCacheClient):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, _GuardedRedis] = {}

    def get_client(self, key=None, *, write=False):
        # `_get_connection_pool_index`, `_pools`, `_pool_class`, `_pool_options` and `_servers` are RedisCacheClient
        # internals (Django 5.2's own get_client uses them); django-stubs types only the public API.
        index = self._get_connection_pool_index(write)  # type: ignore[attr-defined]
        client = self._clients.get(index)
        if client is None:
            pools = self._pools  # type: ignore[attr-defined]
            if index not in pools:  # exactly as RedisCacheClient._get_connection_pool
                pools[index] = self._pool_class.from_url(self._servers[index], **self._pool_options)  # type: ignore[attr-defined]
            guarded = _GuardedRedis(connection_pool=pools[index])
            guarded.breaker = breaker_for(self._servers[index])  # type: ignore[attr-defined]
            client = self._clients[index] = guarded
        return client


class ReusedClientRedisCache(RedisCache):
    """`django.core.cache.backends.redis.RedisCache` with `ReusedClientRedisCacheClient`."""

    def __init__(self, server, params) -> None:
        super().__init__(server, params)
        self._class = ReusedClientRedisCacheClient
