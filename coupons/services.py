"""Write use cases for coupons. Every coupon event writes one append-only ledger row."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from coupons.models import Coupon, CouponKind, LedgerEntry


class _KeyTaken(Exception):
    """Raised inside issue_coupon's savepoint to roll its coupon back when the ledger key already exists."""

    def __init__(self, entry: LedgerEntry) -> None:
        super().__init__(entry.idempotency_key)
        self.entry = entry


def write_ledger(
    *,
    member,
    event: str,
    amount: Decimal,
    idempotency_key: str,
    coupon: Coupon | None = None,
    currency: str = "USD",
    actor=None,
    reason: str = "",
    referral=None,
    order=None,
) -> tuple[LedgerEntry, bool]:
    """Append a ledger row once per idempotency key; returns (row, created)."""
    try:
        with transaction.atomic():
            entry = LedgerEntry.objects.create(
                member=member,
                coupon=coupon,
                event=event,
                amount=amount,
                currency=currency,
                actor=actor,
                reason=reason[:300],
                idempotency_key=idempotency_key,
                referral=referral,
                order=order,
            )
            return entry, True
    except IntegrityError:
        return LedgerEntry.objects.get(idempotency_key=idempotency_key), False


@transaction.atomic
def issue_coupon(
    *,
    owner,
    source: str,
    value: Decimal,
    idempotency_key: str,
    reason: str,
    kind: str = CouponKind.PLATFORM,
    min_spend: Decimal = Decimal("0"),
    currency: str = "USD",
    valid_days: int = 30,
    issued_at: datetime | None = None,
    title: str = "",
    store=None,
    campaign=None,
    referral=None,
    welcome_for=None,
    actor=None,
) -> Coupon:
    """Issue one coupon with its 'issued' ledger row; a repeated idempotency key returns the first coupon."""
    existing = LedgerEntry.objects.filter(idempotency_key=idempotency_key).select_related("coupon").first()
    if existing and existing.coupon is not None:
        return existing.coupon
    issued_at = issued_at or timezone.now()
    try:
        # Coupon and ledger row in one savepoint: a concurrent call with the same key loses on the
        # ledger's unique key, and its coupon is rolled back with it (no coupon without a ledger row).
        with transaction.atomic():
            coupon = Coupon.objects.create(
                owner=owner,
                kind=kind,
                source=source,
                title=title,
                store=store,
                campaign=campaign,
                referral=referral,
                welcome_for=welcome_for,
                value=value,
                currency=currency,
                min_spend=min_spend,
                issued_at=issued_at,
                expires_at=issued_at + timedelta(days=valid_days),
            )
            entry, created = write_ledger(
                member=owner,
                coupon=coupon,
                event=LedgerEntry.Event.ISSUED,
                amount=value,
                currency=currency,
                actor=actor,
                reason=reason,
                idempotency_key=idempotency_key,
                referral=referral or welcome_for,
            )
            if not created:  # the key was taken meanwhile: undo this coupon, return the first one
                raise _KeyTaken(entry)
    except _KeyTaken as taken:
        if taken.entry.coupon is None:
            raise IntegrityError(f"ledger key {idempotency_key!r} is taken by a row without a coupon") from None
        return taken.entry.coupon
    except IntegrityError:
        existing = LedgerEntry.objects.filter(idempotency_key=idempotency_key).select_related("coupon").first()
        if existing is None or existing.coupon is None:
            raise
        return existing.coupon
    return coupon


# --------------------------------------------------------------------------- checkout: price, redeem, release
# (PROGRAM_RULES.md sections 4 and 5). Pricing is the pure engine in coupons.stacking;
# redeeming claims every coupon, promo use and coin with a conditional UPDATE whose
# row count is checked, so one coupon can never pay for two orders.
# (Imports kept with this section so parallel appends to this file merge cleanly.)
from collections.abc import Collection, Sequence  # noqa: E402
from dataclasses import dataclass  # noqa: E402

from django.db.models import F, Q  # noqa: E402

from coupons.stacking import CartLine, PricedCheckout, SellerDiscount, price_cart  # noqa: E402


class RedemptionError(Exception):
    """A pick that can no longer be spent (used meanwhile, expired, limit reached); `str()` is the member's message."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


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


def price_checkout(
    *,
    member,
    cart_lines: Sequence[CartLine],
    coupon_ids: Collection[int] = (),
    promo_code: str | None = None,
    coins: int = 0,
    at: datetime | None = None,
    seller_discounts: Sequence[SellerDiscount] = (),
    currency: str | None = None,
) -> PricedCheckout:
    """Price a cart for a member with their picks (read only); raises stacking.CheckoutError for an unpriceable cart."""
    from accounts.selectors import region_for_country
    from coupons.selectors import checkout_coupon_inputs, resolve_promo_code
    from referral_portal.templatetags.money import active_money_locale

    at = at or timezone.now()
    currency = currency or region_for_country(str(member.country)).currency
    return price_cart(
        lines=cart_lines,
        coupons=checkout_coupon_inputs(member=member, include_ids=coupon_ids),
        chosen_ids=set(coupon_ids),
        promo=resolve_promo_code(member=member, code=promo_code or ""),
        coins=coins,
        coins_balance=member.coins,
        seller_discounts=seller_discounts,
        at=at,
        currency=currency,
        locale=active_money_locale(),  # the engine's messages in the reader's locale, like the page's amounts
    )


@transaction.atomic
def redeem_for_order(
    *,
    order,
    coupon_ids: Collection[int],
    promo_code: str | None = None,
    coins: int = 0,
    at: datetime | None = None,
) -> Redemption:
    """Spend the picked coupons, promo use and coins on one order, all or nothing; a coupon pays for one order only
    (conditional UPDATEs, safe under concurrent checkouts); repeating it for the same order changes nothing."""
    from accounts.models import User
    from coupons.models import Campaign, CouponStatus, PromoRedemption
    from orders.models import OrderState

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
            raise RedemptionError(f"The promo code {code} does not exist.", "PROMO_UNKNOWN")
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
                raise RedemptionError(f"The promo code {code} has been fully used or has ended.", "PROMO_USED_UP")
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

    # 3. Coins: taken only if the balance covers them (100 coins = 1.00).
    coins_key = f"coins:order:{order.pk}"
    if coins and not LedgerEntry.objects.filter(idempotency_key=coins_key).exists():
        taken = User.objects.filter(pk=member_id, coins__gte=coins).update(coins=F("coins") - coins)
        if not taken:
            raise RedemptionError("You don't have that many coins.", "COINS_BALANCE")
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
def release_for_canceled_order(*, order, at: datetime | None = None) -> Release:
    """Give back what an order canceled before payment spent: unexpired coupons, coins, the promo use; a refunded
    (or paid) order gets nothing back. Safe to retry."""
    from accounts.models import User
    from coupons.models import Campaign, CouponStatus, PromoRedemption
    from orders.models import OrderState

    at = at or timezone.now()
    if order.state != OrderState.CANCELED or order.paid_at is not None:
        # Only the cash paid is refunded (PROGRAM_RULES section 4).
        return Release((), (), 0, False, reason="only orders canceled before payment give coupons back")

    returned, expired = [], []
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
    spent = LedgerEntry.objects.filter(idempotency_key=f"coins:order:{order.pk}").first()
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
            User.objects.filter(pk=order.buyer_id).update(coins=F("coins") + coins_returned)

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


# --- Expiry, void, reversal and reminders (appended; the ledger explains every change) ---------------------


class CouponStateError(ValueError):
    """The coupon is not in a state that allows this action (message is shown to staff)."""


@transaction.atomic
def void_coupon(*, coupon: Coupon, actor, reason: str) -> Coupon:
    """Staff action: an active coupon becomes voided exactly once, with a ledger row naming who and why."""
    from coupons.models import CouponStatus

    reason = (reason or "").strip()
    if not reason:
        raise CouponStateError("Give a reason for voiding this coupon.")
    now = timezone.now()
    claimed = Coupon.objects.filter(pk=coupon.pk, status=CouponStatus.ACTIVE).update(
        status=CouponStatus.VOIDED, voided_at=now
    )
    if not claimed:
        coupon.refresh_from_db(fields=["status"])
        raise CouponStateError(f"Only an active coupon can be voided; this one is {coupon.get_status_display()}.")
    coupon.status, coupon.voided_at = CouponStatus.VOIDED, now
    write_ledger(
        member=coupon.owner,
        coupon=coupon,
        event=LedgerEntry.Event.VOIDED,
        amount=-coupon.value,
        currency=coupon.currency,
        actor=actor,
        reason=reason,
        idempotency_key=f"voided:{coupon.pk}",
        referral=coupon.referral if coupon.referral_id else None,
    )
    return coupon


@transaction.atomic
def reverse_reward_coupon(*, coupon: Coupon, referral, reason: str) -> bool:
    """Take back a referral reward once: void it if still active; returns False if it was already used or gone.

    Either way one 'reversed' ledger row is written (−value when the coupon was
    withdrawn, 0 when it had already been used or had expired, so the ledger
    still balances).
    """
    from coupons.models import CouponStatus

    now = timezone.now()
    withdrawn = bool(
        Coupon.objects.filter(pk=coupon.pk, status=CouponStatus.ACTIVE).update(
            status=CouponStatus.VOIDED, voided_at=now
        )
    )
    coupon.refresh_from_db(fields=["status", "voided_at"])
    write_ledger(
        member=coupon.owner,
        coupon=coupon,
        event=LedgerEntry.Event.REVERSED,
        amount=-coupon.value if withdrawn else Decimal("0"),
        currency=coupon.currency,
        reason=reason if withdrawn else f"{reason} (coupon already {coupon.status}; nothing withdrawn)",
        idempotency_key=f"reversal:{referral.pk}",
        referral=referral,
    )
    return withdrawn


def expire_overdue_coupons(*, now: datetime | None = None, batch: int = 500) -> int:
    """Mark every active coupon past its expiry as expired, one UPDATE per batch; ledger rows once per coupon.

    1. claim a batch of overdue active coupons (FOR UPDATE SKIP LOCKED: two runs split the work);
    2. one conditional UPDATE for the batch (status still active, so a coupon used meanwhile is left alone);
    3. one bulk INSERT of 'expired' ledger rows keyed `expired:<coupon id>` (a repeat inserts nothing).
    A coupon past expires_at is unusable whether or not this ran (Coupon.is_usable); this makes it visible.
    """
    from coupons.models import CouponStatus

    now = now or timezone.now()
    total = 0
    while True:
        with transaction.atomic():
            rows = list(
                Coupon.objects.select_for_update(skip_locked=True)
                .filter(status=CouponStatus.ACTIVE, expires_at__lte=now)
                .order_by("pk")
                .values_list("pk", "owner_id", "value", "currency", "referral_id")[:batch]
            )
            if not rows:
                return total
            ids = [row[0] for row in rows]
            Coupon.objects.filter(pk__in=ids, status=CouponStatus.ACTIVE).update(
                status=CouponStatus.EXPIRED, expired_at=now
            )
            LedgerEntry.objects.bulk_create(
                [
                    LedgerEntry(
                        coupon_id=pk,
                        member_id=owner_id,
                        event=LedgerEntry.Event.EXPIRED,
                        amount=-value,
                        currency=currency,
                        reason="Expired unused",
                        idempotency_key=f"expired:{pk}",
                        referral_id=referral_id,
                        created_at=now,
                    )
                    for pk, owner_id, value, currency, referral_id in rows
                ],
                ignore_conflicts=True,
            )
            total += len(rows)
        if len(rows) < batch:
            return total


REMINDER_BEFORE = timedelta(days=3)


def send_expiry_reminders(*, now: datetime | None = None, batch: int = 500) -> int:
    """Remind each owner once, 3 days before a usable coupon expires (claimed by a conditional UPDATE)."""
    from django.urls import reverse

    from accounts.locales import member_money_locale
    from accounts.notify import notify
    from coupons.models import CouponStatus
    from referral_portal.templatetags.money import format_money

    now = now or timezone.now()
    candidates = (
        Coupon.objects.filter(
            status=CouponStatus.ACTIVE,
            reminder_sent_at__isnull=True,
            expires_at__gt=now,
            expires_at__lte=now + REMINDER_BEFORE,
        )
        .select_related("owner")
        .order_by("expires_at")[:batch]
    )
    sent = 0
    for coupon in candidates:
        with transaction.atomic():
            # Two runs may read the same candidates; only one wins the claim.
            if not Coupon.objects.filter(pk=coupon.pk, reminder_sent_at__isnull=True).update(reminder_sent_at=now):
                continue
            locale = member_money_locale(coupon.owner)  # a task: no request, so the owner's locale explicitly
            amount = format_money(coupon.value, coupon.currency, locale)
            minimum = format_money(coupon.min_spend, coupon.currency, locale)
            notify(
                user=coupon.owner,
                kind="coupon_expiring",
                title=f"Your {amount} coupon expires on {coupon.expires_at:%d %B %Y}",
                body=(
                    f"Use your {amount} coupon (minimum spend {minimum}) "
                    f"before {coupon.expires_at:%d %B %Y, %H:%M} UTC. After that it can no longer be used."
                ),
                link=reverse("coupons:wallet"),
                dedupe_key=f"expiry-reminder:{coupon.pk}",
            )
            sent += 1
    return sent
