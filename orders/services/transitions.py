"""Recording what happened to an order: at most once per event, decided by when it happened (orders.rules)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from lib import sqlonce
from orders import rules
from orders.errors import InvalidTransition
from orders.models import Order


@dataclass(frozen=True)
class TransitionResult:
    order: Order
    event: str
    occurred_at: datetime
    outcome: str  # rules.APPLY | rules.DUPLICATE | rules.SUPERSEDED
    message: str = ""

    @property
    def changed(self) -> bool:
        return self.outcome == rules.APPLY


def _locked_order(pk: int):
    return Order.objects.select_for_update().filter(pk=pk)


def locked_order_by_external_id(external_id: str) -> Order | None:
    """The order with this shop id, row-locked until the transaction ends (pass it on with is_locked=True), with
    its card (the first-order checks read it; the card's row is not locked)."""
    found = sqlonce.instances(_locked_by_external_id, external_id)
    return found[0] if found else None


def _locked_by_external_id(external_id: str):
    return Order.objects.select_for_update(of=("self",)).select_related("card").filter(external_id=external_id)


def record_transition(
    *, order: Order, event: str, occurred_at: datetime | None = None, strict: bool = True, is_locked: bool = False
) -> TransitionResult:
    """Record that `event` happened at `occurred_at`, at most once per order; raises InvalidTransition if impossible.

    strict=True: a person acting now (the current state must allow it).
    strict=False: a shop event that may be late, repeated or out of order.
    The order row stays locked until the caller's transaction ends, so what the change does elsewhere
    (flows.orders) is decided under the same lock.
    """
    occurred_at = occurred_at or timezone.now()
    # No savepoint: an impossible transition writes nothing and is raised once the block is left, so a caller's
    # transaction that catches it carries on; any other error ends the caller's transaction too.
    with transaction.atomic(savepoint=False):
        # Row lock: two events for one order are decided one after the other (`is_locked`: the caller read the
        # row with select_for_update in this transaction, so it is current).
        if is_locked:
            locked: Order | None = order
        else:
            found = sqlonce.instances(_locked_order, order.pk)
            locked = found[0] if found else None
        if locked is not None:
            decision = rules.decide_transition(
                facts=rules.Facts.of(locked), event=event, occurred_at=occurred_at, strict=strict
            )
            if decision.outcome in (rules.APPLY, rules.SUPERSEDED):
                setattr(locked, f"{event}_at", occurred_at)
                locked.state = rules.resolve_state(rules.Facts.of(locked))
                sqlonce.update_fields(locked, [f"{event}_at", "state", "updated_at"])
    if locked is None:
        raise Order.DoesNotExist("Order matching query does not exist.")
    if decision.outcome == rules.INVALID:
        raise InvalidTransition(decision.message)
    # The caller's instance reflects the row.
    for name in ("state", "paid_at", "shipped_at", "completed_at", "canceled_at", "refunded_at", "updated_at"):
        setattr(order, name, getattr(locked, name))
    return TransitionResult(
        order=order, event=event, occurred_at=occurred_at, outcome=decision.outcome, message=decision.message
    )
