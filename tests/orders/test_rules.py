"""The lifecycle rules as pure functions (no database)."""

from __future__ import annotations

from orders import rules
from orders.models import OrderState
from tests.orders.conftest import T0, at


def facts(**hours) -> rules.Facts:
    return rules.Facts(placed_at=T0, **{f"{k}_at": at(v) for k, v in hours.items()})


def test_state_is_the_furthest_step_reached():
    assert rules.resolve_state(facts()) == OrderState.PLACED
    assert rules.resolve_state(facts(paid=1)) == OrderState.PAID
    assert rules.resolve_state(facts(paid=1, shipped=2)) == OrderState.SHIPPED
    assert rules.resolve_state(facts(paid=1, shipped=2, completed=3)) == OrderState.COMPLETED


def test_cancel_or_refund_before_completion_wins_and_refund_after_completion_is_a_refund():
    assert rules.resolve_state(facts(paid=1, canceled=2, shipped=3, completed=4)) == OrderState.CANCELED
    assert rules.resolve_state(facts(paid=1, shipped=2, refunded=3, completed=4)) == OrderState.REFUNDED
    assert rules.ended_before_completion(facts(paid=1, shipped=2, refunded=3, completed=4))
    after = facts(paid=1, shipped=2, completed=3, refunded=4)
    assert rules.resolve_state(after) == OrderState.REFUNDED
    assert not rules.ended_before_completion(after)
    # The earlier of a cancel and a refund is the one that ended the order.
    assert rules.resolve_state(facts(paid=1, refunded=2, canceled=3)) == OrderState.REFUNDED
    assert rules.resolve_state(facts(paid=1, canceled=2, refunded=3)) == OrderState.CANCELED


def test_strict_transitions_follow_the_state_machine():
    def outcome(f, event, hour=10):
        return rules.decide_transition(facts=f, event=event, occurred_at=at(hour), strict=True).outcome

    assert outcome(facts(), "paid") == rules.APPLY
    assert outcome(facts(), "shipped") == rules.INVALID  # not paid yet
    assert outcome(facts(paid=1), "completed") == rules.INVALID  # not shipped yet
    assert outcome(facts(paid=1, shipped=2), "canceled") == rules.INVALID  # cancel only before shipping
    assert outcome(facts(), "refunded") == rules.INVALID  # nothing paid to refund
    assert outcome(facts(canceled=1), "paid") == rules.INVALID
    assert outcome(facts(paid=1), "paid") == rules.INVALID
    assert outcome(facts(paid=1, shipped=2, completed=3), "refunded") == rules.APPLY


def test_late_events_are_judged_by_when_they_happened():
    def decide(f, event, hour):
        return rules.decide_transition(facts=f, event=event, occurred_at=at(hour), strict=False)

    # A cancel that happened before the (already known) shipment is still valid: cancel wins.
    assert decide(facts(paid=1, shipped=5), "canceled", 3).outcome == rules.APPLY
    assert decide(facts(paid=1, shipped=5), "canceled", 6).outcome == rules.INVALID
    # A completion after an earlier refund is kept as a fact but changes nothing.
    assert decide(facts(paid=1, shipped=2, refunded=3), "completed", 4).outcome == rules.SUPERSEDED
    # A forward step may arrive before the step it follows.
    assert decide(facts(), "completed", 4).outcome == rules.APPLY
    assert decide(facts(paid=1), "paid", 2).outcome == rules.DUPLICATE
    assert decide(facts(), "paid", -1).outcome == rules.INVALID  # before the order was placed
    assert decide(facts(), "refunded", 2).outcome == rules.INVALID  # unpaid
