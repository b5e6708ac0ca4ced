"""Signed shop events, applied at most once each: the inbox row and the event's effect commit together
(docs/program-rules.md G3: at least once, any order, possibly late; docs/order-events.md)."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from accounts.models import User
from flows.orders import apply_transition, place_order
from orders.errors import EventRefused, InvalidOrder, InvalidTransition
from orders.models import Order, Store
from orders.services.inbox import claim_event, mark_processed
from orders.services.lines import LineInput
from orders.services.transitions import locked_order_by_external_id
from orders.webhooks import OrderEventData


@dataclass(frozen=True)
class EventOutcome:
    event_id: str
    is_duplicate: bool
    result: str = ""  # what applying it did, for the shop and for staff


def receive_order_event(*, event: OrderEventData) -> EventOutcome:
    """Apply a verified shop event at most once.

    A repeated event id does nothing (`is_duplicate`). A refused event (unknown member, order or store, an
    impossible transition) raises EventRefused and stores nothing, so the shop may retry once it is fixed.
    """
    with transaction.atomic():
        inbox = claim_event(event=event)
        if inbox is None:
            return EventOutcome(event_id=event.event_id, is_duplicate=True)
        result = _apply(event)
        mark_processed(inbox=inbox, result=result)
    return EventOutcome(event_id=event.event_id, is_duplicate=False, result=result)


def _apply(event: OrderEventData) -> str:
    if event.type == "order.placed":
        return _place(event)
    # Locked at once: two events of one order are decided one after the other.
    order = locked_order_by_external_id(event.order_id)
    if order is None:
        raise EventRefused("No order has this id (send order.placed first).", code="unknown_order")
    try:
        outcome = apply_transition(
            order=order, event=event.transition, occurred_at=event.occurred_at, strict=False, is_locked=True
        )
    except InvalidTransition as exc:
        raise EventRefused(str(exc.message), code="invalid_transition", conflict=True) from None
    if outcome.changed:
        return f"{event.transition}; order is {outcome.order.state}"
    return outcome.message


def _place(event: OrderEventData) -> str:
    buyer = User.objects.filter(email__iexact=event.member_email.strip()).first()
    if buyer is None:
        raise EventRefused("No member has this e-mail address.", code="unknown_member")
    existing = Order.objects.filter(external_id=event.order_id).first()
    if existing is not None:
        if existing.buyer_id != buyer.pk:
            raise EventRefused("This order id belongs to another member.", code="order_conflict", conflict=True)
        return "already placed"
    if event.occurred_at < buyer.date_joined:
        raise EventRefused(
            f"The order is dated {event.occurred_at.isoformat()}, before the buyer's account existed "
            f"({buyer.date_joined.isoformat()}).",
            code="placed_before_account",
        )
    stores = {s.slug: s for s in Store.objects.filter(slug__in={line.store for line in event.lines})}
    missing = sorted({line.store for line in event.lines} - stores.keys())
    if missing:
        raise EventRefused(f"Unknown store: {', '.join(missing)}.", code="unknown_store")
    lines = [
        LineInput(
            store=stores[line.store],
            name=line.name,
            quantity=line.quantity,
            unit_price=line.unit_price,
            sale_price=line.sale_price,
        )
        for line in event.lines
    ]
    try:
        order = place_order(
            member=buyer,
            lines=lines,
            occurred_at=event.occurred_at,
            external_id=event.order_id,
            card_fingerprint=event.card_fingerprint,
            total=event.total,
            currency=event.currency,
        )
    except InvalidOrder as exc:
        raise EventRefused(str(exc.message), code=exc.code.lower()) from None
    return "placed" + (" (first order)" if order.is_first else "")
