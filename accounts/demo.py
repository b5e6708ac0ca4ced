"""Demo data for levels, coins and events (`load_demo_data`); idempotent, looked up by natural keys."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

# A bigger completed order 40 days ago: with the other demo orders the member is Gold.
REWARDS_ORDER_ID = "DEMO-REWARDS"
REFUND_REQUEST_ORDER_ID = "DEMO-REFUND-REQUESTED"
EVENT_NAME = "11.11 Mega Sale"
FLASH_EVENT_NAME = "Weekend flash sale"


def ensure_rewards_demo(*, member) -> None:
    """Points and a Gold level, a 3-day check-in streak and coins, a waiting refund request, two running events."""
    ensure_level_orders(member=member)
    ensure_coins(member=member)
    ensure_events()


def ensure_level_orders(*, member) -> None:
    from accounts.levels import recompute_level
    from orders import services
    from orders.demo import ensure_shop
    from orders.models import Order

    products = ensure_shop()
    now = timezone.now()
    if not Order.objects.filter(external_id=REWARDS_ORDER_ID).exists():
        placed_at = now - timedelta(days=40)
        order = services.place_order(
            buyer=member,
            lines=[(products["Packable rain jacket"], 2), (products["Cast-iron skillet"], 1)],
            card_label="Visa 4242",
            occurred_at=placed_at,
            external_id=REWARDS_ORDER_ID,
        )
        for step, event in enumerate(["paid", "shipped", "completed"], start=1):
            services.TRANSITIONS[event](order=order, occurred_at=placed_at + timedelta(days=step))
    if not Order.objects.filter(external_id=REFUND_REQUEST_ORDER_ID).exists():
        placed_at = now - timedelta(days=9)
        order = services.place_order(
            buyer=member,
            lines=[(products["USB-C charger 65 W"], 1)],
            card_label="Visa 4242",
            occurred_at=placed_at,
            external_id=REFUND_REQUEST_ORDER_ID,
        )
        for step, event in enumerate(["paid", "shipped", "completed"], start=1):
            services.TRANSITIONS[event](order=order, occurred_at=placed_at + timedelta(days=step))
        services.request_refund(order=order, requested_at=now - timedelta(days=1))
    recompute_level(user=member)


def ensure_coins(*, member) -> None:
    """A streak up to yesterday (so today's check-in continues it) and enough coins for an exchange."""
    from accounts import coins
    from accounts.models import CheckIn, CoinLedger

    if not CheckIn.objects.filter(user=member).exists():
        now = timezone.now()
        for days_ago in (3, 2, 1):
            coins.check_in(user=member, at=now - timedelta(days=days_ago))
    coins.move_coins(
        user=member,
        delta=480,
        kind=CoinLedger.Kind.MANUAL,
        idempotency_key=f"demo:welcome-coins:{member.pk}",
        reason="Demo: welcome coins",
    )


def ensure_events() -> None:
    """Two running platform events; re-running the demo later moves their dates to cover today."""
    from coupons.models import Campaign, CouponKind

    now = timezone.now()
    specs = [
        (EVENT_NAME, Decimal("11.00"), Decimal("60.00"), 1111, 1, timedelta(days=10)),
        (FLASH_EVENT_NAME, Decimal("3.00"), Decimal("15.00"), 50, 2, timedelta(days=2)),
    ]
    for name, value, min_spend, limit, per_member, length in specs:
        campaign, created = Campaign.objects.get_or_create(
            name=name,
            kind=CouponKind.PLATFORM,
            code=None,
            defaults={
                "value": value,
                "min_spend": min_spend,
                "usage_limit": limit,
                "per_member_limit": per_member,
                "starts_at": now - timedelta(days=1),
                "ends_at": now + length,
            },
        )
        if not created and (campaign.ends_at is None or campaign.ends_at <= now or not campaign.is_active):
            campaign.starts_at, campaign.ends_at, campaign.is_active = now - timedelta(days=1), now + length, True
            campaign.save(update_fields=["starts_at", "ends_at", "is_active"])
