"""Publishing a Celery task by name, through the broker's circuit breaker (`lib.breaker`).

Only the outbox relay publishes (`ops.services.outbox`): a request never waits on the broker. A broker
that did not answer a moment ago is not tried again until the breaker's cool-down is over; the caller
gets `CircuitOpen` at once and leaves its outbox row for later.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from celery import current_app

from lib.breaker import HALF_OPEN, OPEN, breaker_for, may_probe


def broker_is_redis() -> bool:
    return str(current_app.conf.broker_url or "").startswith(("redis://", "rediss://", "unix://"))


def broker_refuses_now() -> bool:
    """True while the broker's breaker would refuse this thread at once (the relay then skips publishing)."""
    if not broker_is_redis():
        return False
    item = breaker_for(current_app.conf.broker_url)
    return item.state == OPEN or (item.state == HALF_OPEN and not may_probe())


def publish_task(name: str, args: Sequence[Any] = (), kwargs: dict[str, Any] | None = None) -> None:
    """Send task `name` once (no publish retries: the outbox retries); raises on a broker outage."""
    if not broker_is_redis():
        current_app.send_task(name, args=list(args), kwargs=kwargs or {}, retry=False)
        return
    with breaker_for(current_app.conf.broker_url).guard():
        current_app.send_task(name, args=list(args), kwargs=kwargs or {}, retry=False)
