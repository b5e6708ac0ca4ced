"""One fixed-window rate limiter on the shared cache, used by clicks, phone codes, e-mails and order events.

`cache.add` creates a window's counter atomically and `cache.incr` is atomic in Redis and locmem,
so concurrent requests can never both take the last slot, across processes when the cache is Redis.
"""

from __future__ import annotations

import logging
import time

from django.core.cache import cache

logger = logging.getLogger(__name__)


def allow(*, key: str, limit: int, window_seconds: int, when_unavailable: bool) -> bool:
    """Count one hit on `key`; True while at most `limit` hits fell in the current window.

    If the cache cannot be reached the answer is `when_unavailable` (logged): callers whose
    hits change nothing that matters (link clicks, signed shop events) let traffic through;
    callers that send SMS or e-mail refuse until the cache is back. Never an exception.
    """
    if limit <= 0:
        return True
    bucket = f"rl:{key}:{int(time.time() // window_seconds)}"
    try:
        # The first hit of a window only pays for add(); later ones for incr().
        if cache.add(bucket, 1, timeout=window_seconds + 30):
            return True
        try:
            return cache.incr(bucket) <= limit
        except ValueError:  # the window expired between add and incr: this hit opens a new one
            cache.add(bucket, 1, timeout=window_seconds + 30)
            return True
    except Exception:
        logger.warning("rate limit %s: cache unavailable, answering %s", key, when_unavailable, exc_info=True)
        return when_unavailable
