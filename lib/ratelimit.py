"""One fixed-window rate limiter on the shared cache: clicks, sign-ups, phone codes, e-mails, order events.

On Redis a hit is one round trip: a tiny Lua script increments the window's counter and, on its
first hit, sets the counter's expiry, atomically (so no counter is ever left without one). On any
other cache `cache.add` creates the counter atomically and `cache.incr` counts (atomic in locmem).
Either way concurrent requests can never both take the last slot, across processes on Redis.
"""

from __future__ import annotations

import logging
import time

from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache

from lib.breaker import CircuitOpen

logger = logging.getLogger(__name__)

# KEYS[1] = counter, ARGV[1] = its lifetime in seconds. Returns the count including this hit.
_HIT_SCRIPT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return count
"""
_script = None


def _redis_hit(backend: RedisCache, bucket: str, ttl: int) -> int:
    global _script
    key = backend.make_and_validate_key(bucket)
    client = backend._cache.get_client(key, write=True)
    if _script is None:  # redis-py's Script sends EVALSHA, and the script itself once if a Redis lacks it
        _script = client.register_script(_HIT_SCRIPT)
    return int(_script(keys=[key], args=[ttl], client=client))


def _hit(bucket: str, ttl: int) -> int:
    backend = caches["default"]
    if isinstance(backend, RedisCache):
        return _redis_hit(backend, bucket, ttl)
    if cache.add(bucket, 1, timeout=ttl):
        return 1
    try:
        return cache.incr(bucket)
    except ValueError:  # the window expired between add and incr: this hit opens a new one
        cache.add(bucket, 1, timeout=ttl)
        return 1


def allow(*, key: str, limit: int, window_seconds: int, when_unavailable: bool) -> bool:
    """Count one hit on `key`; True while at most `limit` hits fell in the current window.

    If the cache cannot be reached the answer is `when_unavailable` (logged; while the Redis breaker is
    open the answer comes at once, without trying): callers whose
    hits change nothing that matters (link clicks, signed shop events) let traffic through;
    callers that send SMS or e-mail refuse until the cache is back. Never an exception.
    """
    if limit <= 0:
        return True
    bucket = f"rl:{key}:{int(time.time() // window_seconds)}"
    try:
        return _hit(bucket, window_seconds + 30) <= limit
    except CircuitOpen:  # Redis did not answer a moment ago (lib.breaker): no wait, no log line per hit
        return when_unavailable
    except Exception:
        logger.warning("rate limit %s: cache unavailable, answering %s", key, when_unavailable, exc_info=True)
        return when_unavailable
