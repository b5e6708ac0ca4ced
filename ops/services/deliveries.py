"""Parking poison tasks: a Celery message delivered over and over (its worker keeps dying while running
it) is stopped after `MAX_DELIVERIES` deliveries instead of looping forever, and shown to staff.

Only redeliveries are counted (the broker marks a message it hands out again), so a task's first run
costs nothing here. A parked task is acknowledged without running; staff retry it by hand (an audited
admin action) as a new message through the outbox.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from lib.errors import DomainError
from ops.models import TaskDelivery
from ops.services.outbox import enqueue_task

logger = logging.getLogger(__name__)

MAX_DELIVERIES = 3


@transaction.atomic
def record_redelivery(*, task_id: str, task_name: str, args: list[Any], kwargs: dict[str, Any]) -> TaskDelivery:
    """Count one more delivery of message `task_id` (the first redelivery is the 2nd delivery); park it
    when this delivery is past MAX_DELIVERIES."""
    now = timezone.now()
    delivery, created = TaskDelivery.objects.select_for_update().get_or_create(
        task_id=task_id,
        defaults={"task_name": task_name, "args": args, "kwargs": kwargs, "deliveries": 2, "last_delivered_at": now},
    )
    if not created:
        delivery.deliveries += 1
        delivery.last_delivered_at = now
    if delivery.deliveries > MAX_DELIVERIES and delivery.parked_at is None:
        delivery.parked_at = now
        logger.error(
            "task %s %s parked after %s deliveries (it keeps stopping its worker): retry it from the admin",
            task_name,
            task_id,
            MAX_DELIVERIES,
        )
    delivery.save()
    return delivery


class RetryRefused(DomainError):
    code = "RETRY_REFUSED"


@transaction.atomic
def retry_parked(*, delivery_id: int) -> TaskDelivery:
    """Send a parked task again as a new message (counted afresh); once per parking."""
    delivery = TaskDelivery.objects.select_for_update().get(pk=delivery_id)
    if delivery.parked_at is None or delivery.retried_at is not None:
        raise RetryRefused(gettext("not parked, or already retried"))
    if delivery.kwargs:
        raise RetryRefused(gettext("takes keyword arguments; only tasks with positional arguments are retried by hand"))
    enqueue_task(name=delivery.task_name, args=delivery.args)
    delivery.retried_at = timezone.now()
    delivery.save(update_fields=["retried_at"])
    return delivery
