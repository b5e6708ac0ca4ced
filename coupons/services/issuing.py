"""Issuing a coupon: the coupon and its 'issued' ledger row, together, once per idempotency key."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import User
from coupons.models import Coupon, CouponKind, LedgerEntry
from coupons.services.ledger import write_ledger


class _KeyTaken(Exception):
    """Raised inside issue_coupon's savepoint to roll its coupon back when the ledger key already exists."""

    def __init__(self, entry: LedgerEntry) -> None:
        super().__init__(entry.idempotency_key)
        self.entry = entry


@transaction.atomic
def issue_coupon(
    *,
    member: User,
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
    actor: User | None = None,
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
                owner=member,
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
                member=member,
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


@dataclass(frozen=True)
class NewCoupon:
    """One coupon for `issue_coupons`: what `issue_coupon` takes, for a platform coupon from a referral."""

    owner_id: int
    source: str
    value: Decimal
    currency: str
    min_spend: Decimal
    valid_days: int
    title: str
    idempotency_key: str
    reason: str
    referral_id: int | None = None


def issue_coupons(new: Sequence[NewCoupon], *, issued_at: datetime) -> list[Coupon]:
    """Many coupons and their 'issued' ledger rows in two INSERTs (the credit sweep); returns them in order.

    Unlike `issue_coupon` a taken key is not looked up: the caller holds the locks that make every key new
    (the referrals it credits), so a taken key or referral raises IntegrityError and rolls the caller's
    transaction back. The ledger is only ever INSERTed into.
    """
    if not new:
        return []
    coupons = Coupon.objects.bulk_create(
        [
            Coupon(
                owner_id=n.owner_id,
                kind=CouponKind.PLATFORM,
                source=n.source,
                title=n.title,
                referral_id=n.referral_id,
                value=n.value,
                currency=n.currency,
                min_spend=n.min_spend,
                issued_at=issued_at,
                expires_at=issued_at + timedelta(days=n.valid_days),
            )
            for n in new
        ]
    )
    LedgerEntry.objects.bulk_create(
        [
            LedgerEntry(
                member_id=n.owner_id,
                coupon_id=coupon.pk,
                event=LedgerEntry.Event.ISSUED,
                amount=n.value,
                currency=n.currency,
                reason=n.reason[:300],
                idempotency_key=n.idempotency_key,
                referral_id=n.referral_id,
                created_at=issued_at,
            )
            for n, coupon in zip(new, coupons, strict=True)
        ]
    )
    return coupons
