"""Django's Redis cache backend, keeping one `redis.Redis` client per server instead of one per call.

Django's `RedisCacheClient.get_client` wraps its (reused) connection pool in a new `redis.Redis`
object on every cache call, which copies ~170 response callbacks each time: ≈ 0.1 ms of CPU per
call, paid on every link click by the rate-limit counter (docs/performance.md). The pool, the
connections and every command stay exactly as in Django; the client object is kept. Django's
cache handler is per thread, so each thread still has its own client (and redis-py's pool
re-creates its connections after a fork).
"""

from __future__ import annotations

from django.core.cache.backends.redis import RedisCache, RedisCacheClient


class ReusedClientRedisCacheClient(RedisCacheClient):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, object] = {}

    def get_client(self, key=None, *, write=False):
        # `_get_connection_pool` and `_client` are RedisCacheClient internals (Django 5.2's own get_client
        # uses exactly these two); django-stubs types only the public API.
        pool = self._get_connection_pool(write)  # type: ignore[attr-defined]
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)  # type: ignore[attr-defined]
        return client


class ReusedClientRedisCache(RedisCache):
    """`django.core.cache.backends.redis.RedisCache` with `ReusedClientRedisCacheClient`."""

    def __init__(self, server, params) -> None:
        super().__init__(server, params)
        self._class = ReusedClientRedisCacheClient
