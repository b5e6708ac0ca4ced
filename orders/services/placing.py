"""Placing an order, and which order is a buyer's first (docs/program-rules.md section 3: only the first counts)."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.devices import record_sighting
from accounts.models import User
from lib.client import ClientInfo
from orders.errors import InvalidOrder
from orders.models import Order, OrderLine, OrderState
from orders.services.cards import card_for, label_fingerprint, normalize_card_label
from orders.services.lines import LineInput, check_lines


@dataclass(frozen=True)
class OrderAmounts:
    """What an order costs, as priced by the stacking rules (coupons.pricing): the order keeps it as is."""

    currency: str
    subtotal: Decimal
    discount_total: Decimal
    total: Decimal
    coins_used: int = 0
    pricing: dict = field(default_factory=dict)


def new_external_id() -> str:
    return "PO-" + secrets.token_hex(6).upper()


@transaction.atomic
def place_order(
    *,
    member: User,
    lines: Sequence[LineInput],
    amounts: OrderAmounts,
    card_label: str = "",
    card_fingerprint: str = "",
    client: ClientInfo | None = None,
    occurred_at: datetime | None = None,
    external_id: str | None = None,
) -> Order:
    """Create an order in state `placed`; exactly one order per buyer is ever `is_first`, even under races.

    The card is kept only as a fingerprint: derived from the test `card_label` here, or given by the shop
    (`card_fingerprint`) for shop events. Spending coupons and coins is the checkout flow's job.
    """
    check_lines(lines)
    occurred_at = occurred_at or timezone.now()
    if card_fingerprint:
        fingerprint, label = card_fingerprint, ""
    else:
        label = normalize_card_label(card_label)
        fingerprint = label_fingerprint(label)
    order = Order(
        buyer=member,
        external_id=external_id or new_external_id(),
        state=OrderState.PLACED,
        card=card_for(member=member, fingerprint=fingerprint, label=label, at=occurred_at),
        currency=amounts.currency,
        subtotal=amounts.subtotal,
        discount_total=amounts.discount_total,
        coins_used=amounts.coins_used,
        total=amounts.total,
        pricing=amounts.pricing,
        placed_at=occurred_at,
    )
    if client is not None:
        order.device, _ = record_sighting(client=client, kind="order", member=member)
    if Order.objects.filter(external_id=order.external_id).exists():
        raise InvalidOrder("An order with this id already exists.", code="DUPLICATE_ORDER")
    # First order: decided by the partial unique index (one is_first per buyer),
    # not by the count alone, so two concurrent first orders can't both be first.
    order.is_first = not Order.objects.filter(buyer=member).exists()
    try:
        with transaction.atomic():
            order.save()
    except IntegrityError:
        if not order.is_first:
            raise InvalidOrder("An order with this id already exists.", code="DUPLICATE_ORDER") from None
        order.pk = None
        order.is_first = False
        try:
            with transaction.atomic():
                order.save()
        except IntegrityError:
            raise InvalidOrder("An order with this id already exists.", code="DUPLICATE_ORDER") from None
    OrderLine.objects.bulk_create(
        OrderLine(
            order=order,
            product=line.product,
            store=line.store,
            name=line.name[:200],
            quantity=line.quantity,
            unit_price=line.unit_price,
            sale_price=line.sale_price,
        )
        for line in lines
    )
    return order


def later_first_order(order: Order) -> Order | None:
    """The buyer's current first order, locked, when `order` was placed before it (heard of later); else None.

    The usual case (checkout places orders now) takes no lock. Another late order may take the flag while
    we wait for the lock: then read again (a new snapshot), at most a few times.
    """
    if (
        order.is_first
        or not Order.objects.filter(buyer_id=order.buyer_id, is_first=True, placed_at__gt=order.placed_at).exists()
    ):
        return None
    for _attempt in range(5):
        current = Order.objects.select_for_update().filter(buyer_id=order.buyer_id, is_first=True).first()
        if current is not None:
            break
    else:
        return None
    if current.pk == order.pk or current.placed_at <= order.placed_at:
        return None
    return current


def move_first_flag(*, old: Order, new: Order) -> None:
    """Make `new` the buyer's first order: clear the old flag first (one is_first per buyer, a unique index)."""
    now = timezone.now()
    Order.objects.filter(pk=old.pk).update(is_first=False, updated_at=now)
    Order.objects.filter(pk=new.pk).update(is_first=True, updated_at=now)
    new.is_first = True
