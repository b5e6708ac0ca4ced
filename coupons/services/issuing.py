"""Issuing a coupon: the coupon and its 'issued' ledger row, together, once per idempotency key."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import User
from coupons.models import Coupon, CouponKind, CouponStatus, LedgerEntry
from coupons.services.ledger import write_ledger
from lib.bulk import insert_rows


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
    """One referral's reward for `issue_coupons`: what `issue_coupon` takes for it."""

    owner_id: int
    referral_id: int
    source: str
    value: Decimal
    currency: str
    min_spend: Decimal
    valid_days: int
    title: str
    idempotency_key: str
    reason: str


@dataclass(frozen=True)
class IssuedCoupon:
    pk: int
    value: Decimal
    currency: str
    min_spend: Decimal
    expires_at: datetime


def issue_coupons(new: Sequence[NewCoupon], *, issued_at: datetime) -> list[IssuedCoupon]:
    """Many referral rewards and their 'issued' ledger rows in two INSERTs (the credit sweep), in `new`'s order.

    Unlike `issue_coupon` a taken key is not looked up: the caller holds the locks that make every key new
    (the referrals it credits), so a taken key or referral raises IntegrityError and rolls the caller's
    transaction back. The ledger is only ever INSERTed into.
    """
    if not new:
        return []
    expiry = {days: issued_at + timedelta(days=days) for days in {n.valid_days for n in new}}
    inserted = insert_rows(
        Coupon,
        (
            "owner",
            "referral",
            "kind",
            "source",
            "title",
            "value",
            "currency",
            "min_spend",
            "issued_at",
            "expires_at",
            "status",
        ),
        [
            (
                n.owner_id,
                n.referral_id,
                CouponKind.PLATFORM,
                n.source,
                n.title,
                n.value,
                n.currency,
                n.min_spend,
                issued_at,
                expiry[n.valid_days],
                CouponStatus.ACTIVE,
            )
            for n in new
        ],
        returning=("id", "referral"),
    )
    coupon_of = {referral_id: pk for pk, referral_id in inserted}
    insert_rows(
        LedgerEntry,
        ("member", "coupon", "referral", "event", "amount", "currency", "reason", "idempotency_key", "created_at"),
        [
            (
                n.owner_id,
                coupon_of[n.referral_id],
                n.referral_id,
                LedgerEntry.Event.ISSUED,
                n.value,
                n.currency,
                n.reason[:300],
                n.idempotency_key,
                issued_at,
            )
            for n in new
        ],
    )
    return [
        IssuedCoupon(
            pk=coupon_of[n.referral_id],
            value=n.value,
            currency=n.currency,
            min_spend=n.min_spend,
            expires_at=expiry[n.valid_days],
        )
        for n in new
    ]
