"""A coupon after it is issued: staff voids, reward reversals, the expiry sweep and expiry reminders.

Each change of a coupon's status writes its coupon-ledger row, so the ledger explains every change
(docs/program-rules.md section 4).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from accounts.locales import member_money_locale
from accounts.models import User
from accounts.notify import notify
from coupons.models import EXPIRY_WARNING, Coupon, CouponStatus, LedgerEntry
from coupons.services.ledger import write_ledger
from lib.errors import DomainError
from lib.money import format_money


class CouponStateError(DomainError, ValueError):
    """The coupon is not in a state that allows this action (message is shown to staff)."""

    code = "COUPON_STATE"


@transaction.atomic
def void_coupon(*, coupon: Coupon, actor: User | None, reason: str) -> Coupon:
    """Staff action: a voidable (active) coupon becomes voided exactly once, with a ledger row naming who and why."""
    reason = (reason or "").strip()
    if not reason:
        raise CouponStateError("Give a reason for voiding this coupon.")
    now = timezone.now()
    claimed = Coupon.objects.voidable().filter(pk=coupon.pk).update(status=CouponStatus.VOIDED, voided_at=now)
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
def reverse_reward_coupon(*, coupon: Coupon, referral, reason: str, idempotency_key: str = "") -> bool:
    """Take back a referral reward (or a milestone bonus it reached, under its own `idempotency_key`) once: void it
    if still voidable; returns False if it was already used or gone.

    Either way one 'reversed' ledger row is written (−value when the coupon was
    withdrawn, 0 when it had already been used or had expired, so the ledger
    still balances).
    """
    now = timezone.now()
    withdrawn = bool(Coupon.objects.voidable().filter(pk=coupon.pk).update(status=CouponStatus.VOIDED, voided_at=now))
    coupon.refresh_from_db(fields=["status", "voided_at"])
    write_ledger(
        member=coupon.owner,
        coupon=coupon,
        event=LedgerEntry.Event.REVERSED,
        amount=-coupon.value if withdrawn else Decimal("0"),
        currency=coupon.currency,
        reason=reason if withdrawn else f"{reason} (coupon already {coupon.status}; nothing withdrawn)",
        idempotency_key=idempotency_key or f"reversal:{referral.pk}",
        referral=referral,
    )
    return withdrawn


# Coupons per transaction of the expiry sweep.
EXPIRY_BATCH = 5000


# One batch of the expiry sweep on PostgreSQL: claim (keyset, SKIP LOCKED), UPDATE, 'expired' ledger rows
# (INSERT only, once per coupon by its key); returns the batch's last (expires_at, id) and its size. Tables and
# columns as of coupons/migrations/0006 (tests/coupons/test_expiry.py compares it with the ORM path).
_EXPIRE_BATCH_SQL = """
WITH batch AS (
    SELECT id FROM coupons_coupon
    WHERE status = 'active' AND expires_at <= %(now)s AND (expires_at, id) > (%(after_at)s, %(after_id)s)
    ORDER BY expires_at, id LIMIT %(batch)s FOR UPDATE SKIP LOCKED
), moved AS (
    UPDATE coupons_coupon c SET status = 'expired', expired_at = %(now)s FROM batch
    WHERE c.id = batch.id AND c.status = 'active'
    RETURNING c.id, c.owner_id, c.value, c.currency, c.referral_id, c.expires_at
), ledger AS (
    INSERT INTO coupons_ledgerentry (event, amount, currency, reason, idempotency_key, created_at, coupon_id,
        member_id, referral_id)
    SELECT 'expired', -m.value, m.currency, 'Expired unused', 'expired:' || m.id, %(now)s, m.id, m.owner_id,
        m.referral_id
    FROM moved m
    ON CONFLICT DO NOTHING
)
SELECT expires_at, id, (SELECT count(*) FROM moved) FROM moved ORDER BY expires_at DESC, id DESC LIMIT 1
"""


def expire_overdue_coupons(*, now: datetime | None = None, batch: int = EXPIRY_BATCH) -> int:
    """Mark every active coupon past its expiry as expired, one UPDATE per batch; ledger rows once per coupon.

    1. claim a batch of overdue active coupons in (expires_at, id) order after the last batch's end (keyset),
       through the partial index `coupon_active_expiry_idx` that holds only active coupons: a claim never
       walks past coupons already expired, so the cost is linear in the backlog; FOR UPDATE SKIP LOCKED lets
       two runs split the work;
    2. one conditional UPDATE for the batch (status still active, so a coupon used meanwhile is left alone);
    3. one bulk INSERT of 'expired' ledger rows keyed `expired:<coupon id>` (a repeat inserts nothing).
    A coupon past expires_at is unusable whether or not this ran (Coupon.is_usable); this makes it visible.
    On PostgreSQL the three steps are one statement per batch (`_EXPIRE_BATCH_SQL`: the same rows, without a
    Python object per coupon); elsewhere (SQLite) they are three ORM statements.
    """
    now = now or timezone.now()
    total = 0
    cursor: tuple[datetime, int] | None = None
    if connection.vendor == "postgresql":
        cursor = (datetime(1, 1, 1, tzinfo=UTC), 0)
        while True:
            with transaction.atomic(), connection.cursor() as db:
                params: dict[str, datetime | int] = {
                    "now": now,
                    "after_at": cursor[0],
                    "after_id": cursor[1],
                    "batch": batch,
                }
                db.execute(_EXPIRE_BATCH_SQL, params)
                row = db.fetchone()
            if row is None:
                return total
            cursor, expired = (row[0], row[1]), row[2]
            total += expired
            if expired < batch:
                return total
    while True:
        with transaction.atomic():
            overdue = Coupon.objects.select_for_update(skip_locked=True).filter(
                status=CouponStatus.ACTIVE, expires_at__lte=now
            )
            if cursor is not None:
                overdue = overdue.filter(Q(expires_at__gt=cursor[0]) | Q(expires_at=cursor[0], pk__gt=cursor[1]))
            rows = list(
                overdue.order_by("expires_at", "pk").values_list(
                    "pk", "owner_id", "value", "currency", "referral_id", "expires_at"
                )[:batch]
            )
            if not rows:
                return total
            cursor = (rows[-1][5], rows[-1][0])
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
                    for pk, owner_id, value, currency, referral_id, _expires_at in rows
                ],
                ignore_conflicts=True,
            )
            total += len(rows)
        if len(rows) < batch:
            return total


def send_expiry_reminders(*, now: datetime | None = None, batch: int = 500) -> int:
    """Remind each owner once, EXPIRY_WARNING (3 days) before a usable coupon expires (claimed by a conditional
    UPDATE). The wallet's warning badge starts at the same moment."""
    now = now or timezone.now()
    candidates = (
        Coupon.objects.filter(
            status=CouponStatus.ACTIVE,
            reminder_sent_at__isnull=True,
            expires_at__gt=now,
            expires_at__lte=now + EXPIRY_WARNING,
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
                member=coupon.owner,
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
