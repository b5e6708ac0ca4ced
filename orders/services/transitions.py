"""Recording what happened to an order: at most once per event, decided by when it happened (orders.rules)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

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


@transaction.atomic
def record_transition(
    *, order: Order, event: str, occurred_at: datetime | None = None, strict: bool = True
) -> TransitionResult:
    """Record that `event` happened at `occurred_at`, at most once per order; raises InvalidTransition if impossible.

    strict=True: a person acting now (the current state must allow it).
    strict=False: a shop event that may be late, repeated or out of order.
    The order row stays locked until the caller's transaction ends, so what the change does elsewhere
    (flows.orders) is decided under the same lock.
    """
    # Row lock: two events for one order are decided one after the other.
    locked = Order.objects.select_for_update().get(pk=order.pk)
    occurred_at = occurred_at or timezone.now()
    decision = rules.decide_transition(
        facts=rules.Facts.of(locked), event=event, occurred_at=occurred_at, strict=strict
    )
    if decision.outcome == rules.INVALID:
        raise InvalidTransition(decision.message)
    if decision.outcome in (rules.APPLY, rules.SUPERSEDED):
        setattr(locked, f"{event}_at", occurred_at)
        locked.state = rules.resolve_state(rules.Facts.of(locked))
        locked.save(update_fields=[f"{event}_at", "state", "updated_at"])
    # The caller's instance reflects the row.
    for name in ("state", "paid_at", "shipped_at", "completed_at", "canceled_at", "refunded_at", "updated_at"):
        setattr(order, name, getattr(locked, name))
    return TransitionResult(
        order=order, event=event, occurred_at=occurred_at, outcome=decision.outcome, message=decision.message
    )
