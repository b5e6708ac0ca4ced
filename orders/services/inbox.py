"""The order-event inbox: each shop event id is stored once (a unique key), with what applying it did."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone

from orders.models import OrderEvent
from orders.webhooks import OrderEventData


def claim_event(*, event: OrderEventData) -> OrderEvent | None:
    """Store the event's id, or None when it is already stored (a repeat: nothing to do).

    Call inside the transaction that applies the event: the row and its effect commit together, and a
    concurrent delivery of the same id waits on the unique index, then sees it here once the first commits.
    """
    try:
        with transaction.atomic():  # savepoint: the caller's transaction survives a duplicate
            return OrderEvent.objects.create(
                event_id=event.event_id,
                type=event.type,
                order_external_id=event.order_id,
                occurred_at=event.occurred_at,
                payload=event.payload,
            )
    except IntegrityError:
        return None


def mark_processed(*, inbox: OrderEvent, result: str) -> None:
    """Keep what applying the event did, for staff."""
    inbox.processed_at = timezone.now()
    inbox.result = result[:200]
    inbox.save(update_fields=["processed_at", "result"])
