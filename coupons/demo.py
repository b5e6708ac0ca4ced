"""Demo wallet for `load_demo_data`: every kind of coupon for the demo member, the WELCOME10 promo code, a check-in
streak with coins, and two running sale events. Idempotent, looked up by natural keys."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from accounts.models import User
from coupons import coins
from coupons.models import (
    Campaign,
    CheckIn,
    CoinLedger,
    Coupon,
    CouponKind,
    CouponSource,
    CouponStatus,
    LedgerEntry,
    StoreOffer,
    StoreOfferAudience,
)
from coupons.services import issue_coupon, write_ledger
from orders.demo import ensure_shop
from orders.models import Store

D = Decimal
EVENT_NAME = "11.11 Mega Sale"
FLASH_EVENT_NAME = "Weekend flash sale"


def ensure_promo_campaign() -> Campaign:
    campaign, _ = Campaign.objects.get_or_create(
        code="WELCOME10",
        defaults={
            "name": "Welcome promo code: $10 off $50",
            "kind": CouponKind.PROMO,
            "value": D("10.00"),
            "min_spend": D("50.00"),
            "usage_limit": 1000,
            "per_member_limit": 1,
        },
    )
    return campaign


# The store coupon's store: one of the shop's own stores (orders.demo.STORES), so the coupon can be spent.
DEMO_COUPON_STORE = "pixel-gadgets"


# Store coupons on the demo stores' pages ("Get coupons"): (store slug, audience, value, min spend, total limit).
STORE_OFFERS = [
    ("northwind-outfitters", StoreOfferAudience.FOLLOWERS, "3.00", "20.00", 500),
    ("northwind-outfitters", StoreOfferAudience.FIRST_BUYERS, "5.00", "30.00", 200),
    ("pixel-gadgets", StoreOfferAudience.FOLLOWERS, "4.00", "40.00", None),
]


def ensure_store_offers() -> list[StoreOffer]:
    """The demo stores' offers (stores from orders.demo; one offer per store and audience, looked up by both)."""
    offers = []
    for slug, audience, value, min_spend, limit in STORE_OFFERS:
        store = Store.objects.filter(slug=slug).first()
        if store is not None:
            offer, _ = StoreOffer.objects.get_or_create(
                store=store,
                audience=audience,
                defaults={"value": D(value), "min_spend": D(min_spend), "total_limit": limit},
            )
            offers.append(offer)
    return offers


def ensure_demo_coupons(member) -> list[Coupon]:
    """Coupons of each kind for the demo member (welcome, event, select, store, used, expired).

    Referral coupons come only from crediting the demo friends (referrals.demo), so the member's meter, earnings
    and coupons tell one story; the store coupon is for a store of the demo shop (created by orders.demo).
    """
    now = timezone.now()
    ensure_shop()
    store = Store.objects.get(slug=DEMO_COUPON_STORE)
    event = Campaign.objects.filter(name="Spring Sale").first() or Campaign.objects.create(
        name="Spring Sale", kind=CouponKind.PLATFORM, value=D("10.00"), min_spend=D("60.00")
    )
    ensure_promo_campaign()
    ensure_store_offers()
    specs = [
        ("welcome-1", CouponKind.PLATFORM, CouponSource.WELCOME, "Welcome: $4 off $5", "4.00", "5.00", 1, {}),
        ("welcome-2", CouponKind.PLATFORM, CouponSource.WELCOME, "Welcome: $5 off $25", "5.00", "25.00", 1, {}),
        ("event-1", CouponKind.PLATFORM, CouponSource.EVENT, "Spring Sale", "10.00", "60.00", 3, {"campaign": event}),
        ("select-1", CouponKind.SELECT, CouponSource.EVENT, "Select: Home & Garden", "3.00", "15.00", 5, {}),
        (
            f"store-{DEMO_COUPON_STORE}",
            CouponKind.STORE,
            CouponSource.STORE,
            "Pixel Gadgets: $3 off $20",
            "3.00",
            "20.00",
            2,
            {"store": store},
        ),
        ("used-1", CouponKind.PLATFORM, CouponSource.WELCOME, "Welcome: $7 off $49", "7.00", "49.00", 6, {}),
        ("expired-1", CouponKind.PLATFORM, CouponSource.EVENT, "Winter Sale", "6.00", "40.00", 40, {}),
    ]
    coupons = []
    for key, kind, source, title, value, min_spend, days_ago, extra in specs:
        coupon = issue_coupon(
            member=member,
            kind=kind,
            source=source,
            title=title,
            value=D(value),
            min_spend=D(min_spend),
            issued_at=now - timedelta(days=days_ago),
            idempotency_key=f"demo:{member.pk}:{key}",
            reason="demo data",
            **extra,
        )
        coupons.append(coupon)
        if key.startswith("used") and coupon.status == CouponStatus.ACTIVE:
            Coupon.objects.filter(pk=coupon.pk, status=CouponStatus.ACTIVE).update(
                status=CouponStatus.USED, used_at=now - timedelta(days=2)
            )
            write_ledger(
                member=member,
                coupon=coupon,
                event=LedgerEntry.Event.USED,
                amount=-coupon.value,
                reason="demo data",
                idempotency_key=f"demo:{member.pk}:{key}:used",
            )
        if key.startswith("expired") and coupon.status == CouponStatus.ACTIVE:
            Coupon.objects.filter(pk=coupon.pk, status=CouponStatus.ACTIVE).update(
                status=CouponStatus.EXPIRED, expired_at=coupon.expires_at
            )
            write_ledger(
                member=member,
                coupon=coupon,
                event=LedgerEntry.Event.EXPIRED,
                amount=D("0.00"),
                reason="demo data",
                idempotency_key=f"demo:{member.pk}:{key}:expired",
            )
    if member.coins == 0:
        coins.move_coins(
            member=member,
            delta=1250,
            kind=CoinLedger.Kind.MANUAL,
            idempotency_key=f"demo:wallet-coins:{member.pk}",
            reason="Demo: coins to spend at checkout",
        )
    return coupons


def ensure_coins(*, member: User) -> None:
    """A streak up to yesterday (so today's check-in continues it) and enough coins for an exchange."""
    if not CheckIn.objects.filter(user=member).exists():
        now = timezone.now()
        for days_ago in (3, 2, 1):
            coins.check_in(member=member, at=now - timedelta(days=days_ago))
    coins.move_coins(
        member=member,
        delta=480,
        kind=CoinLedger.Kind.MANUAL,
        idempotency_key=f"demo:welcome-coins:{member.pk}",
        reason="Demo: welcome coins",
    )


def ensure_events() -> None:
    """Two running platform events; re-running the demo later moves their dates to cover today."""
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
