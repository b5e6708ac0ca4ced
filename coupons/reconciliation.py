"""The ledgers checked against what they explain (docs/program-rules.md section 4; RELIABILITY.md section 4).

Read-only, a fixed number of aggregate queries whatever the data size; `referrals.services.reconciliation`
runs it nightly with the rewards check, logs what it finds and keeps the report for the staff dashboard.

- every coupon has exactly one 'issued' ledger row;
- per member and currency, the coupon-ledger rows of their coupons add up to the value of their active coupons
  (issued +value, used/expired/voided/reversed −value, returned +value: a spent or withdrawn coupon nets 0);
- per member, the coin ledger adds up to the coin balance (`User.coins`).
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from django.db.models import Count, F, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from accounts.models import User
from coupons.models import CoinLedger, Coupon, CouponStatus, LedgerEntry


def issuing_row_problems() -> list[dict]:
    """Coupons with no 'issued' ledger row, or more than one."""
    rows = (
        Coupon.objects.annotate(issued=Count("ledger", filter=Q(ledger__event=LedgerEntry.Event.ISSUED)))
        .exclude(issued=1)
        .order_by("pk")
        .values_list("pk", "owner_id", "issued")
    )
    return [
        {"check": "issuing_row", "coupon_id": pk, "member_id": owner_id, "issued_rows": issued}
        for pk, owner_id, issued in rows
    ]


def coupon_balance_problems() -> list[dict]:
    """Members whose coupon-ledger total (per currency) differs from the value of their active coupons."""
    ledger: defaultdict[tuple[int, str], Decimal] = defaultdict(Decimal)
    for member_id, currency, total in (
        LedgerEntry.objects.filter(coupon__isnull=False)
        .values_list("member_id", "currency")
        .annotate(total=Sum("amount"))
        .order_by()
    ):
        ledger[(member_id, currency)] += total
    active: defaultdict[tuple[int, str], Decimal] = defaultdict(Decimal)
    for owner_id, currency, total in (
        Coupon.objects.filter(status=CouponStatus.ACTIVE)
        .values_list("owner_id", "currency")
        .annotate(total=Sum("value"))
        .order_by()
    ):
        active[(owner_id, currency)] += total
    return [
        {
            "check": "coupon_balance",
            "member_id": member_id,
            "currency": currency,
            "ledger_total": f"{ledger[(member_id, currency)]:.2f}",
            "active_coupons": f"{active[(member_id, currency)]:.2f}",
        }
        for member_id, currency in sorted(set(ledger) | set(active))
        if ledger[(member_id, currency)] != active[(member_id, currency)]
    ]


def coin_balance_problems() -> list[dict]:
    """Members whose coin ledger does not add up to their coin balance."""
    total = (
        CoinLedger.objects.filter(member=OuterRef("pk"))
        .order_by()
        .values("member")
        .annotate(s=Sum("delta"))
        .values("s")
    )
    rows = (
        User.objects.annotate(ledger_total=Coalesce(Subquery(total), Value(0)))
        .exclude(coins=F("ledger_total"))
        .order_by("pk")
        .values_list("pk", "coins", "ledger_total")
    )
    return [
        {"check": "coin_balance", "member_id": pk, "balance": coins, "ledger_total": ledger_total}
        for pk, coins, ledger_total in rows
    ]


def ledger_problems() -> list[dict]:
    """Every discrepancy between the ledgers and what they explain (empty when all is well)."""
    return issuing_row_problems() + coupon_balance_problems() + coin_balance_problems()
