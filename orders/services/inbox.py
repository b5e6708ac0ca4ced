"""The order-event inbox: each shop event id is stored once (a unique key), with what applying it did."""

from __future__ import annotations

from django.db import connection
from django.utils import timezone

from lib import sqlonce
from orders.models import OrderEvent
from orders.webhooks import OrderEventData

_CLAIM_COLUMNS = ("event_id", "type", "order_external_id", "occurred_at", "received_at", "payload", "processed_at")
_FIELDS = {field.name: field for field in OrderEvent._meta.concrete_fields}  # each column is named as its field
_CLAIM_SQL = (
    f"INSERT INTO {OrderEvent._meta.db_table} ({', '.join(_CLAIM_COLUMNS)}, result) "  # noqa: S608 - our table name
    f"VALUES ({', '.join(['%s'] * (len(_CLAIM_COLUMNS) + 1))}) ON CONFLICT DO NOTHING RETURNING id"
)


def claim_event(*, event: OrderEventData) -> OrderEvent | None:
    """Store the event's id, or None when it is already stored (a repeat: nothing to do).

    Call inside the transaction that applies the event: the row and its effect commit together, and a
    concurrent delivery of the same id waits on the unique index, then sees it here once the first commits.
    One INSERT … ON CONFLICT DO NOTHING (PostgreSQL and SQLite): a repeat needs no savepoint to survive.
    """
    inbox = OrderEvent(
        event_id=event.event_id,
        type=event.type,
        order_external_id=event.order_id,
        occurred_at=event.occurred_at,
        payload=event.payload,
    )
    values = [_FIELDS[name].get_db_prep_save(getattr(inbox, name), connection) for name in _CLAIM_COLUMNS]
    with connection.cursor() as cursor:
        cursor.execute(_CLAIM_SQL, [*values, inbox.result])
        row = cursor.fetchone()
    if row is None:
        return None
    inbox.pk = row[0]
    inbox._state.adding, inbox._state.db = False, connection.alias
    return inbox


def mark_processed(*, inbox: OrderEvent, result: str) -> None:
    """Keep what applying the event did, for staff."""
    inbox.processed_at = timezone.now()
    inbox.result = result[:200]
    sqlonce.update_fields(inbox, ["processed_at", "result"])
