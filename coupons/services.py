"""Write use cases for coupons. Every coupon event writes one append-only ledger row."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from coupons.models import Coupon, CouponKind, LedgerEntry


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
    write_ledger(
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
    return coupon
