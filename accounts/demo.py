"""Demo data for the Rewards page (`load_demo_data`): orders that make the member Gold, a waiting refund request,
and the wallet's part (coins, check-ins, running events: coupons.demo). Idempotent, looked up by natural keys."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from accounts.models import User
from coupons.demo import ensure_coins, ensure_events
from flows import orders as flows
from orders import points
from orders.demo import ensure_shop
from orders.models import Order

# A bigger completed order 40 days ago: with the other demo orders the member is Gold.
REWARDS_ORDER_ID = "DEMO-REWARDS"
REFUND_REQUEST_ORDER_ID = "DEMO-REFUND-REQUESTED"


def ensure_rewards_demo(*, member: User) -> None:
    """Points and a Gold level, a 3-day check-in streak and coins, a waiting refund request, two running events."""
    ensure_level_orders(member=member)
    ensure_coins(member=member)
    ensure_events()


def ensure_level_orders(*, member: User) -> None:
    products = ensure_shop()
    now = timezone.now()
    if not Order.objects.filter(external_id=REWARDS_ORDER_ID).exists():
        placed_at = now - timedelta(days=40)
        order = flows.place_order(
            member=member,
            lines=[(products["Packable rain jacket"], 2), (products["Cast-iron skillet"], 1)],
            card_label="Visa 4242",
            occurred_at=placed_at,
            external_id=REWARDS_ORDER_ID,
        )
        for step, event in enumerate(["paid", "shipped", "completed"], start=1):
            flows.TRANSITIONS[event](order=order, occurred_at=placed_at + timedelta(days=step))
    if not Order.objects.filter(external_id=REFUND_REQUEST_ORDER_ID).exists():
        placed_at = now - timedelta(days=9)
        order = flows.place_order(
            member=member,
            lines=[(products["USB-C charger 65 W"], 1)],
            card_label="Visa 4242",
            occurred_at=placed_at,
            external_id=REFUND_REQUEST_ORDER_ID,
        )
        for step, event in enumerate(["paid", "shipped", "completed"], start=1):
            flows.TRANSITIONS[event](order=order, occurred_at=placed_at + timedelta(days=step))
        flows.request_refund(order=order, requested_at=now - timedelta(days=1))
    points.recompute_level(member=member)
