"""The staff's behaviour panel on a referrer (docs/program-rules.md section 6): read-only signals of their friends."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import Count, Exists, IntegerField, OuterRef, Q, Subquery

from accounts.models import User
from orders.models import Order, OrderLine
from referrals.models import Referral

BURST_WINDOW = timedelta(hours=1)
BURST_LOOKBACK = timedelta(days=30)
BURST_FLAG_ABOVE = 3  # more than 3 sign-ups in one hour
RECENT_SIGNUPS = timedelta(hours=24)  # the panel's "last 24 h" count
SILENT_AFTER = timedelta(days=30)
SILENT_MIN_FRIENDS = 3
SILENT_MIN_RATIO = Decimal("0.80")


@dataclass(frozen=True)
class IdenticalOrderGroup:
    referral_ids: list[int]
    lines: list[tuple[str, int]]  # (product name, quantity)
    total: Decimal
    currency: str


@dataclass(frozen=True)
class Behaviour:
    now: datetime
    # 1. Sign-up bursts on the member's link.
    signups_30d: int
    signups_24h: int
    busiest_hour_count: int
    busiest_hour_start: datetime | None
    # 2. Identical first orders.
    identical_groups: list[IdenticalOrderGroup] = field(default_factory=list)
    compared_first_orders: int = 0
    # 3. Friends who go silent after the first order.
    settled_friends: int = 0
    silent_friends: int = 0

    @property
    def busiest_hour_end(self) -> datetime | None:
        return self.busiest_hour_start + BURST_WINDOW if self.busiest_hour_start else None

    @property
    def is_burst(self) -> bool:
        return self.busiest_hour_count > BURST_FLAG_ABOVE

    @property
    def has_identical_orders(self) -> bool:
        return bool(self.identical_groups)

    @property
    def silent_ratio(self) -> Decimal | None:
        if not self.settled_friends:
            return None
        return Decimal(self.silent_friends) / Decimal(self.settled_friends)

    @property
    def silent_percent(self) -> int | None:
        ratio = self.silent_ratio
        return None if ratio is None else int((ratio * 100).to_integral_value())

    @property
    def is_mostly_silent(self) -> bool:
        ratio = self.silent_ratio
        return self.settled_friends >= SILENT_MIN_FRIENDS and ratio is not None and ratio >= SILENT_MIN_RATIO


def referrer_behaviour(*, referrer: User, now: datetime) -> Behaviour:
    """The three behaviour signals of a referrer's friends, read-only, in three queries whatever their number.

    1. Busiest hour: for each sign-up of the last 30 days, the sign-ups in [it, it + 1 hour); the largest wins.
    2. Identical first orders: friends' first orders with the same (product, quantity) lines and total.
    3. Silent friends: first order completed over 30 days ago and no other order placed since.
    """
    friends = Referral.objects.filter(referrer=referrer)
    settled = Q(first_order__isnull=False, completed_at__isnull=False, completed_at__lte=now - SILENT_AFTER)
    came_back = Order.objects.filter(
        buyer_id=OuterRef("friend_id"), placed_at__gte=OuterRef("first_order__placed_at")
    ).exclude(pk=OuterRef("first_order_id"))
    counts = friends.annotate(came_back=Exists(came_back)).aggregate(
        signups_30d=Count("pk", filter=Q(registered_at__gt=now - BURST_LOOKBACK, registered_at__lte=now)),
        signups_24h=Count("pk", filter=Q(registered_at__gt=now - RECENT_SIGNUPS, registered_at__lte=now)),
        settled=Count("pk", filter=settled),
        silent=Count("pk", filter=settled & Q(came_back=False)),
    )

    # Each window starts at a sign-up: the busiest [start, start + 1 hour) always starts at one.
    in_window = (
        Referral.objects.filter(
            referrer=referrer,
            registered_at__gte=OuterRef("registered_at"),
            registered_at__lt=OuterRef("registered_at") + BURST_WINDOW,
        )
        .order_by()
        .values("referrer")
        .annotate(n=Count("pk"))
        .values("n")
    )
    busiest = (
        friends.filter(registered_at__gt=now - BURST_LOOKBACK, registered_at__lte=now)
        .annotate(n=Subquery(in_window, output_field=IntegerField()))
        .order_by("-n", "registered_at")
        .values_list("n", "registered_at")
        .first()
    )

    # One row per line of a friend's first order; grouped here so SQLite and PostgreSQL agree.
    lines = (
        OrderLine.objects.filter(order__referral__referrer=referrer)
        .order_by()
        .values_list("order__referral__pk", "product_id", "name", "quantity", "order__total", "order__currency")
    )
    orders: dict[int, dict] = {}
    for referral_id, product_id, name, quantity, total, currency in lines:
        entry = orders.setdefault(referral_id, {"lines": [], "total": total, "currency": currency})
        # A deleted product keeps its line name: compare by name then.
        entry["lines"].append((product_id if product_id is not None else f"name:{name}", quantity, name))
    groups: dict[tuple, list[int]] = {}
    for referral_id, entry in orders.items():
        key = (tuple(sorted((str(p), q) for p, q, _ in entry["lines"])), entry["total"], entry["currency"])
        groups.setdefault(key, []).append(referral_id)
    identical = []
    for ids in groups.values():
        if len(ids) < 2:
            continue
        ids.sort()
        entry = orders[ids[0]]
        identical.append(
            IdenticalOrderGroup(
                referral_ids=ids,
                lines=sorted((name, q) for _, q, name in entry["lines"]),
                total=entry["total"],
                currency=entry["currency"],
            )
        )
    identical.sort(key=lambda g: (-len(g.referral_ids), g.referral_ids[0]))

    return Behaviour(
        now=now,
        signups_30d=counts["signups_30d"],
        signups_24h=counts["signups_24h"],
        busiest_hour_count=busiest[0] if busiest else 0,
        busiest_hour_start=busiest[1] if busiest else None,
        identical_groups=identical,
        compared_first_orders=len(orders),
        settled_friends=counts["settled"],
        silent_friends=counts["silent"],
    )
