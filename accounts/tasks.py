"""Celery adapters for member housekeeping: each is one service call, safe to run twice."""

from __future__ import annotations

from celery import shared_task

from accounts import notify, services
from orders import points


@shared_task(acks_late=True, soft_time_limit=50, time_limit=60)
def purge_raw_ips() -> int:
    return services.purge_raw_ips()


# Points are orders' (orders.points); the task keeps its name: the beat schedule and queued messages use it.
@shared_task(acks_late=True, soft_time_limit=50, time_limit=60)
def recompute_due_levels() -> int:
    return points.recompute_due_levels()


@shared_task(acks_late=True, soft_time_limit=250, time_limit=300)
def email_notices(dedupe_keys: list[str]) -> int:
    return notify.email_notices(dedupe_keys=dedupe_keys)
