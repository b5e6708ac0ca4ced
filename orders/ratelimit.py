"""Rate limit of the order-events endpoint (the shared limiter; events are signed, so an outage lets them in)."""

from __future__ import annotations

from lib.ratelimit import allow


def hit(*, key: str, limit: int, window: int) -> bool:
    """Count one hit on `key`; True while at most `limit` hits fell in the current `window` seconds."""
    return allow(key=key, limit=limit, window_seconds=window, when_unavailable=True)
