"""Order lifecycle rules as plain functions over plain data (no database).

An order is a set of facts: when it was placed, paid, shipped, completed,
canceled and refunded. Events may arrive late, twice or out of order, so the
state is *derived* from those facts by when each thing happened, never from
the order in which the portal heard of them:

- a cancel or refund that happened before completion wins, whatever arrived
  first (the order ends `canceled` / `refunded`);
- a refund after completion is a refund of a completed order (`refunded`,
  with `completed_at` kept);
- otherwise the furthest step reached: completed > shipped > paid > placed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.utils.translation import gettext_lazy as _

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

from dataclasses import dataclass, fields
from datetime import datetime

from orders.models import Order, OrderState

EVENTS = ("paid", "shipped", "completed", "canceled", "refunded")
# Keyed by state value: events ("paid", ...) and derived states are plain strings equal to OrderState values.
FORWARD_RANK: dict[str, int] = {
    OrderState.PLACED: 0,
    OrderState.PAID: 1,
    OrderState.SHIPPED: 2,
    OrderState.COMPLETED: 3,
}

# What a person (or the demo shop controls) may do from the order's current state.
ALLOWED_FROM: dict[str, set[str]] = {
    OrderState.PAID: {OrderState.PLACED},
    OrderState.SHIPPED: {OrderState.PAID},
    OrderState.COMPLETED: {OrderState.SHIPPED},
    OrderState.CANCELED: {OrderState.PLACED, OrderState.PAID},
    OrderState.REFUNDED: {OrderState.PAID, OrderState.SHIPPED, OrderState.COMPLETED},
}

# Outcomes of deciding one transition.
APPLY = "apply"  # record the fact; the state may change
DUPLICATE = "duplicate"  # this fact is already recorded: no effect
SUPERSEDED = "superseded"  # the order was canceled/refunded before this happened: fact kept, state unchanged
INVALID = "invalid"  # impossible: refused with a message

MESSAGES: dict[str, StrOrPromise] = {
    OrderState.PAID: _("Only a placed order can be marked paid."),
    OrderState.SHIPPED: _("Only a paid order can be shipped."),
    OrderState.COMPLETED: _("Only a shipped order can be confirmed as received."),
    OrderState.CANCELED: _("An order can only be canceled before it ships; request a refund instead."),
    OrderState.REFUNDED: _("Only a paid order can be refunded; an unpaid order can be canceled."),
}


@dataclass(frozen=True)
class Facts:
    placed_at: datetime
    paid_at: datetime | None = None
    shipped_at: datetime | None = None
    completed_at: datetime | None = None
    canceled_at: datetime | None = None
    refunded_at: datetime | None = None

    @classmethod
    def of(cls, order: Order) -> Facts:
        return cls(**{f.name: getattr(order, f.name) for f in fields(cls)})

    def as_of(self, moment: datetime) -> Facts:
        """Only what had happened by `moment`."""

        def by_then(at: datetime | None) -> datetime | None:
            return None if at is None or at > moment else at

        return Facts(
            placed_at=self.placed_at,
            paid_at=by_then(self.paid_at),
            shipped_at=by_then(self.shipped_at),
            completed_at=by_then(self.completed_at),
            canceled_at=by_then(self.canceled_at),
            refunded_at=by_then(self.refunded_at),
        )

    def get(self, event: str) -> datetime | None:
        return getattr(self, f"{event}_at")


@dataclass(frozen=True)
class Decision:
    outcome: str
    message: str = ""

    @property
    def changes_state(self) -> bool:
        return self.outcome == APPLY


def resolve_state(facts: Facts) -> str:
    """The order's state from its facts, by when each thing happened."""
    completed_at = facts.completed_at
    enders = [
        (moment, state)
        for moment, state in ((facts.canceled_at, OrderState.CANCELED), (facts.refunded_at, OrderState.REFUNDED))
        if moment is not None and (completed_at is None or moment < completed_at)
    ]
    if enders:
        return min(enders)[1]
    if completed_at is not None:
        return OrderState.REFUNDED if facts.refunded_at is not None else OrderState.COMPLETED
    if facts.shipped_at is not None:
        return OrderState.SHIPPED
    if facts.paid_at is not None:
        return OrderState.PAID
    return OrderState.PLACED


def ended_before_completion(facts: Facts) -> bool:
    """True when a cancel or refund happened before any completion."""
    return resolve_state(facts) in {OrderState.CANCELED, OrderState.REFUNDED} and (
        facts.completed_at is None
        or min(t for t in (facts.canceled_at, facts.refunded_at) if t is not None) < facts.completed_at
    )


def decide_transition(*, facts: Facts, event: str, occurred_at: datetime, strict: bool) -> Decision:
    """May `event`, which happened at `occurred_at`, be recorded on an order with these facts?

    strict: a person acting now (the state must allow it, nothing is superseded).
    Otherwise a shop event that may be late: it is judged against what had
    happened by `occurred_at`, and forward steps may skip ones not heard of yet.
    """
    if event not in EVENTS:
        return Decision(INVALID, f"Unknown order event {event!r}.")
    recorded_at = facts.get(event)
    if recorded_at is not None:
        if strict:
            return Decision(
                INVALID, str(_("This order is already %(state)s.")) % {"state": str(OrderState(event).label).lower()}
            )
        return Decision(DUPLICATE, f"Already recorded as {event} at {recorded_at.isoformat()}.")
    if occurred_at < facts.placed_at:
        return Decision(INVALID, str(_("The event happened before the order was placed.")))
    state = resolve_state(facts.as_of(occurred_at))
    if state not in ALLOWED_FROM[event] and not strict:
        if state in {OrderState.CANCELED, OrderState.REFUNDED} and ended_before_completion(facts.as_of(occurred_at)):
            return Decision(SUPERSEDED, f"The order was already {state} when this happened; recorded without effect.")
        # Late delivery: a forward step may arrive before the ones it follows.
        if event in FORWARD_RANK and state in FORWARD_RANK and FORWARD_RANK[state] < FORWARD_RANK[event]:
            return Decision(APPLY)
    if state not in ALLOWED_FROM[event]:
        return Decision(INVALID, str(MESSAGES[event]))
    return Decision(APPLY)
