"""Spending and giving back at checkout (docs/program-rules.md sections 4 and 5).

Pricing is `coupons.pricing` over the pure engine `coupons.stacking`; this module claims what the engine applied.
Every coupon, promo use and coin is claimed by a conditional UPDATE whose row count is checked, so one coupon can
never pay for two orders. Coins move only through the coins service (`coupons.coins`), so a checkout spend and a
return are rows of the coin ledger like every other movement.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts.models import User
from coupons.coins import InsufficientCoins, return_from_order, spend_at_checkout
from coupons.models import Campaign, Coupon, CouponKind, CouponStatus, LedgerEntry, PromoRedemption
from coupons.services.ledger import write_ledger
from coupons.stacking import promo_not_valid_message
from lib.errors import DomainError
from orders.models import Order, OrderState


def _promo_refusal(code: str) -> str:
    text = promo_not_valid_message(code)
    return text[0].upper() + text[1:] + "."


class RedemptionError(DomainError):
    """A pick that can no longer be spent (used meanwhile, expired, limit reached); `str()` is the member's message."""

    code = "REDEMPTION_REFUSED"

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message, code=code)


@dataclass(frozen=True)
class Redemption:
    coupon_ids: tuple[int, ...]
    promo_campaign_id: int | None
    coins: int


@dataclass(frozen=True)
class Release:
    returned_coupon_ids: tuple[int, ...]
    expired_coupon_ids: tuple[int, ...]
    coins_returned: int
    promo_returned: bool
    reason: str = ""


def _coins_key(order: Order) -> str:
    """The coupon-ledger key of the coins an order took (its coin-ledger row is `coins-checkout:order:<id>`)."""
    return f"coins:order:{order.pk}"


@transaction.atomic
def redeem_for_order(
    *,
    order: Order,
    coupon_ids: Collection[int],
    promo_code: str | None = None,
    coins: int = 0,
    at: datetime | None = None,
) -> Redemption:
    """Spend the picked coupons, promo use and coins on one order, all or nothing; a coupon pays for one order only
    (conditional UPDATEs, safe under concurrent checkouts); repeating it for the same order changes nothing."""
    at = at or timezone.now()
    member_id = order.buyer_id
    if order.state in (OrderState.CANCELED, OrderState.REFUNDED):
        raise RedemptionError("This order is closed; coupons can't be used on it.", "ORDER_CLOSED")
    if not isinstance(coins, int) or coins < 0:
        raise RedemptionError("Coins must be a whole number, 0 or more.", "COINS_INVALID")

    # 1. Coupons, in id order (a fixed lock order avoids deadlocks between two checkouts).
    ids = sorted({int(i) for i in coupon_ids})
    held = {c.pk: c for c in Coupon.objects.filter(pk__in=ids, owner_id=member_id)}
    for coupon_id in ids:
        coupon = held.get(coupon_id)
        if coupon is None:
            raise RedemptionError("That coupon is not in your wallet.", "NOT_IN_WALLET")
        claimed = Coupon.objects.filter(
            pk=coupon_id, owner_id=member_id, status=CouponStatus.ACTIVE, expires_at__gt=at
        ).update(status=CouponStatus.USED, used_at=at, used_order=order)
        if not claimed:
            coupon.refresh_from_db(fields=["status", "used_order", "expires_at"])
            if coupon.status == CouponStatus.USED and coupon.used_order_id == order.pk:
                continue  # a retry of this very redemption
            why = "has expired" if coupon.expires_at <= at else f"is {coupon.get_status_display().lower()}"
            raise RedemptionError(f"A coupon you picked {why} and can't be used on this order.", "COUPON_UNAVAILABLE")
        write_ledger(
            member=order.buyer,
            coupon=coupon,
            event=LedgerEntry.Event.USED,
            amount=-coupon.value,
            currency=coupon.currency,
            reason=f"used on order {order.external_id}",
            idempotency_key=f"used:{coupon.pk}:order:{order.pk}",
            order=order,
        )

    # 2. Promo code: one use row per order, the campaign counter raised only below its limit.
    campaign_id = None
    code = (promo_code or "").strip().upper()
    if code:
        campaign = Campaign.objects.filter(code=code, kind=CouponKind.PROMO).first()
        if campaign is None:
            raise RedemptionError(_promo_refusal(code), "PROMO_UNKNOWN")
        campaign_id = campaign.pk
        if not PromoRedemption.objects.filter(campaign=campaign, order=order).exists():
            if campaign.per_member_limit:
                # Lock the member's row so two checkouts of one member can't both pass the per-member count.
                User.objects.select_for_update().filter(pk=member_id).first()
                used = PromoRedemption.objects.filter(
                    campaign=campaign, member_id=member_id, released_at__isnull=True
                ).count()
                if used >= campaign.per_member_limit:
                    raise RedemptionError(f"You have already used the promo code {code}.", "PROMO_MEMBER_LIMIT")
            counted = (
                Campaign.objects.filter(pk=campaign.pk, is_active=True, starts_at__lte=at)
                .filter(Q(ends_at__isnull=True) | Q(ends_at__gt=at))
                .filter(Q(usage_limit__isnull=True) | Q(used_count__lt=F("usage_limit")))
                .update(used_count=F("used_count") + 1)
            )
            if not counted:
                raise RedemptionError(_promo_refusal(code), "PROMO_USED_UP")
            PromoRedemption.objects.create(
                campaign=campaign, member_id=member_id, order=order, amount=campaign.value, created_at=at
            )
            write_ledger(
                member=order.buyer,
                event=LedgerEntry.Event.USED,
                amount=-campaign.value,
                currency=campaign.currency,
                reason=f"promo code {code} on order {order.external_id}",
                idempotency_key=f"promo:{campaign.pk}:order:{order.pk}",
                order=order,
            )

    # 3. Coins: taken by the coins service only if the balance covers them (100 coins = 1.00); the coupon ledger
    #    records their money value too, as it does for every discount of the order.
    coins_key = _coins_key(order)
    if coins and not LedgerEntry.objects.filter(idempotency_key=coins_key).exists():
        try:
            spend_at_checkout(member=order.buyer, coins=coins, order=order, at=at)
        except InsufficientCoins:
            raise RedemptionError("You don't have that many coins.", "COINS_BALANCE") from None
        write_ledger(
            member=order.buyer,
            event=LedgerEntry.Event.USED,
            amount=-(Decimal(coins) / 100),
            currency=order.currency,
            reason=f"{coins} coins on order {order.external_id}",
            idempotency_key=coins_key,
            order=order,
        )
    return Redemption(coupon_ids=tuple(ids), promo_campaign_id=campaign_id, coins=coins)


@transaction.atomic
def release_for_canceled_order(*, order: Order, at: datetime | None = None) -> Release:
    """Give back what an order canceled before payment spent: unexpired coupons, coins, the promo use; a refunded
    (or paid) order gets nothing back. Safe to retry."""
    at = at or timezone.now()
    if order.state != OrderState.CANCELED or order.paid_at is not None:
        # Only the cash paid is refunded (docs/program-rules.md section 4).
        return Release((), (), 0, False, reason="only orders canceled before payment give coupons back")

    returned: list[int] = []
    expired: list[int] = []
    for coupon in Coupon.objects.filter(used_order=order, status=CouponStatus.USED).order_by("id"):
        if coupon.expires_at > at:
            done = Coupon.objects.filter(pk=coupon.pk, status=CouponStatus.USED, used_order=order).update(
                status=CouponStatus.ACTIVE, used_at=None, used_order=None
            )
            event, amount, bucket = LedgerEntry.Event.RETURNED, coupon.value, returned
        else:
            done = Coupon.objects.filter(pk=coupon.pk, status=CouponStatus.USED, used_order=order).update(
                status=CouponStatus.EXPIRED, expired_at=at
            )
            event, amount, bucket = LedgerEntry.Event.EXPIRED, Decimal("0.00"), expired
        if done:
            bucket.append(coupon.pk)
            write_ledger(
                member=order.buyer,
                coupon=coupon,
                event=event,
                amount=amount,
                currency=coupon.currency,
                reason=f"order {order.external_id} canceled before payment"
                + ("" if event == LedgerEntry.Event.RETURNED else "; coupon already past its expiry"),
                idempotency_key=f"{event}:{coupon.pk}:order:{order.pk}",
                order=order,
            )

    coins_returned = 0
    spent = LedgerEntry.objects.filter(idempotency_key=_coins_key(order)).first()
    if spent is not None:
        _, created = write_ledger(
            member=order.buyer,
            event=LedgerEntry.Event.RETURNED,
            amount=-spent.amount,
            currency=spent.currency,
            reason=f"coins of order {order.external_id} canceled before payment",
            idempotency_key=f"coins-returned:order:{order.pk}",
            order=order,
        )
        if created:
            coins_returned = int(-spent.amount * 100)
            return_from_order(member=order.buyer, coins=coins_returned, order=order, at=at)

    promo_returned = False
    for redemption in PromoRedemption.objects.filter(order=order, released_at__isnull=True).select_related("campaign"):
        if PromoRedemption.objects.filter(pk=redemption.pk, released_at__isnull=True).update(released_at=at):
            Campaign.objects.filter(pk=redemption.campaign_id, used_count__gt=0).update(used_count=F("used_count") - 1)
            promo_returned = True
            write_ledger(
                member=order.buyer,
                event=LedgerEntry.Event.RETURNED,
                amount=redemption.amount,
                currency=redemption.campaign.currency,
                reason=f"promo code {redemption.campaign.code}: order {order.external_id} canceled before payment",
                idempotency_key=f"promo-returned:{redemption.campaign_id}:order:{order.pk}",
                order=order,
            )
    return Release(tuple(returned), tuple(expired), coins_returned, promo_returned)
