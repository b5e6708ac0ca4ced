"""The coupon ledger's one write: an append-only row per coupon event, once per idempotency key."""

from __future__ import annotations

from decimal import Decimal

from django.db import IntegrityError, transaction

from accounts.models import User
from coupons.models import Coupon, LedgerEntry


def write_ledger(
    *,
    member: User,
    event: str,
    amount: Decimal,
    idempotency_key: str,
    coupon: Coupon | None = None,
    currency: str = "USD",
    actor: User | None = None,
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
