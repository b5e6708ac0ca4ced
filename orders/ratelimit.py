"""Fixed-window rate limit on the shared cache (atomic increments, so it holds across processes)."""

from __future__ import annotations

import time

from django.core.cache import cache


def hit(*, key: str, limit: int, window: int) -> bool:
    """Count one hit on `key`; True while at most `limit` hits fell in the current `window` seconds."""
    bucket = f"rl:{key}:{int(time.time() // window)}"
    # add() is atomic and only creates the key; incr() is atomic in Redis and locmem.
    cache.add(bucket, 0, timeout=window + 5)
    try:
        count = cache.incr(bucket)
    except ValueError:  # expired between add and incr
        cache.add(bucket, 1, timeout=window + 5)
        count = 1
    return count <= limit
