"""Member levels: points from completed orders, the level they give, and its benefits (PROGRAM_RULES.md s. 8).

- Points: 1 per whole currency unit of completed (not refunded) orders whose
  completion lies in the last 12 months. They are stored on the member with the
  level (`User.level_points`, `User.level`) and recomputed
  1. by orders.services when an order completes or is refunded, and
  2. by the sweep `recompute_due_levels` once the oldest counted order leaves
     the window (`User.points_expire_at`, a stored deadline: a missed run is
     healed by the next one).
- Levels and benefits live in `accounts.Level` rows (admin-editable; defaults
  from migration 0004): Gold and above get a yearly anniversary coupon,
  Platinum and above have refunds under a limit approved at once, Diamond
  support requests come first (`support_priority_for`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_FLOOR, Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.relativedelta import relativedelta
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from accounts.models import AccountStatus, Level, LevelCode, User

logger = logging.getLogger(__name__)

POINTS_WINDOW = relativedelta(months=12)
ANNIVERSARY_CATCH_UP = timedelta(days=7)  # a missed daily run still issues the coupon within a week
DEFAULT_SUPPORT_PRIORITY = 100

# The defaults (also written by migration 0004; used as-is if the table is empty).
DEFAULT_LEVELS: list[dict] = [
    {"code": LevelCode.SILVER, "min_points": 0},
    {
        "code": LevelCode.GOLD,
        "min_points": 200,
        "anniversary_coupon_value": Decimal("5.00"),
        "anniversary_coupon_min_spend": Decimal("25.00"),
    },
    {
        "code": LevelCode.PLATINUM,
        "min_points": 500,
        "anniversary_coupon_value": Decimal("10.00"),
        "anniversary_coupon_min_spend": Decimal("50.00"),
        "fast_refund_limit": Decimal("100.00"),
    },
    {
        "code": LevelCode.DIAMOND,
        "min_points": 2000,
        "anniversary_coupon_value": Decimal("20.00"),
        "anniversary_coupon_min_spend": Decimal("100.00"),
        "fast_refund_limit": Decimal("100.00"),
        "support_priority": 0,
    },
]


# --- Rules (plain functions) ------------------------------------------------------------


def all_levels() -> list[Level]:
    """Every level, lowest threshold first (the built-in defaults if none are stored)."""
    levels = list(Level.objects.order_by("min_points", "id"))
    return levels or [Level(**row) for row in DEFAULT_LEVELS]


def points_for(amount: Decimal | int | None) -> int:
    """1 point per whole currency unit: $199.99 → 199."""
    return int(Decimal(amount or 0).to_integral_value(rounding=ROUND_FLOOR))


def level_for_points(points: int, levels: list[Level]) -> Level:
    """The highest level whose threshold the points reach."""
    reached = [level for level in levels if level.min_points <= points]
    return max(reached, key=lambda level: level.min_points) if reached else levels[0]


def next_level(current: Level, levels: list[Level]) -> Level | None:
    higher = [level for level in levels if level.min_points > current.min_points]
    return min(higher, key=lambda level: level.min_points) if higher else None


def window_start(at: datetime) -> datetime:
    """Orders completed after this moment count towards the points at `at`."""
    return at - POINTS_WINDOW


@dataclass(frozen=True)
class RefundDecision:
    auto_approve: bool
    reason: str  # FAST_REFUND | LEVEL_HAS_NO_FAST_REFUND | OVER_FAST_REFUND_LIMIT


def fast_refund_decision(*, level: Level, amount: Decimal) -> RefundDecision:
    """A refund request is approved at once when the level has a fast-refund limit and the amount is under it."""
    if level.fast_refund_limit is None:
        return RefundDecision(False, "LEVEL_HAS_NO_FAST_REFUND")
    if Decimal(amount) < level.fast_refund_limit:
        return RefundDecision(True, "FAST_REFUND")
    return RefundDecision(False, "OVER_FAST_REFUND_LIMIT")


def anniversary_on(joined: date, year: int) -> date:
    """The membership anniversary in `year` (members who joined on 29 February celebrate on the 28th)."""
    try:
        return joined.replace(year=year)
    except ValueError:
        return date(year, 2, 28)


def member_zone(user) -> ZoneInfo:
    """The member's time zone (UTC if the stored name is unknown)."""
    try:
        return ZoneInfo(user.time_zone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def due_anniversary_year(*, joined_at: datetime, at: datetime, zone: ZoneInfo) -> int | None:
    """The anniversary year whose coupon is due at `at` (local dates, catch-up window), or None."""
    joined = joined_at.astimezone(zone).date()
    today = at.astimezone(zone).date()
    for year in (today.year, today.year - 1):
        if year <= joined.year:
            continue
        day = anniversary_on(joined, year)
        if day <= today < day + ANNIVERSARY_CATCH_UP:
            return year
    return None


# --- Reads ------------------------------------------------------------------------------


def level_of(user) -> Level:
    """The member's stored level's settings."""
    levels = all_levels()
    return next((level for level in levels if level.code == user.level), levels[0])


def support_priority_for(*, user) -> int:
    """Support queue priority of the member's requests: lower comes first (Diamond 0, everyone else 100).

    Call it when a support request is created and store the number on the
    request; order the staff queue by (priority, created_at).
    """
    if user is None or not getattr(user, "pk", None):
        return DEFAULT_SUPPORT_PRIORITY
    return level_of(user).support_priority


@dataclass(frozen=True)
class Standing:
    """What the Rewards page shows about the member's level."""

    level: Level
    points: int
    next_level: Level | None
    points_to_next: int
    levels: list[Level]
    points_expire_at: datetime | None

    @property
    def meter_max(self) -> int:
        return self.next_level.min_points if self.next_level else max(self.points, 1)

    @property
    def meter_value(self) -> int:
        return min(self.points, self.meter_max)


def standing_for(*, user) -> Standing:
    levels = all_levels()
    current = next((level for level in levels if level.code == user.level), levels[0])
    upcoming = next_level(current, levels)
    return Standing(
        level=current,
        points=user.level_points,
        next_level=upcoming,
        points_to_next=max(upcoming.min_points - user.level_points, 0) if upcoming else 0,
        levels=levels,
        points_expire_at=user.points_expire_at,
    )


# --- Writes -----------------------------------------------------------------------------


@transaction.atomic
def recompute_level(*, user, at: datetime | None = None) -> User:
    """Store the member's points and level as of `at`; one member at a time (row lock), safe to repeat."""
    from orders.selectors import completed_spend

    at = at or timezone.now()
    # The lock orders concurrent recomputes of one member: the later one sees the earlier's order.
    locked = User.objects.select_for_update().get(pk=user.pk)
    total, oldest = completed_spend(buyer=locked, completed_after=window_start(at), completed_until=at)
    points = points_for(total)
    level = level_for_points(points, all_levels())
    previous = locked.level
    locked.level_points = points
    locked.level = level.code
    locked.level_updated_at = at
    locked.points_expire_at = oldest + POINTS_WINDOW if oldest else None
    locked.save(update_fields=["level_points", "level", "level_updated_at", "points_expire_at"])
    if level.code != previous:
        logger.info("member %s level %s -> %s (%s points)", locked.pk, previous, level.code, points)
    for name in ("level_points", "level", "level_updated_at", "points_expire_at"):
        setattr(user, name, getattr(locked, name))
    return user


def recompute_due_levels(*, at: datetime | None = None, limit: int = 1000) -> int:
    """Recompute every member whose oldest counted order has left the window; returns how many."""
    at = at or timezone.now()
    ids = list(
        User.objects.filter(points_expire_at__lte=at).order_by("points_expire_at").values_list("pk", flat=True)[:limit]
    )
    for pk in ids:
        recompute_level(user=User(pk=pk), at=at)
    return len(ids)


def _anniversary_candidates(*, at: datetime):
    """Members of levels with an anniversary coupon who joined on a (UTC) month/day near the catch-up window."""
    codes = [level.code for level in all_levels() if level.anniversary_coupon_value > 0]
    days = {(at - timedelta(days=n)).date() for n in range(-1, ANNIVERSARY_CATCH_UP.days + 2)}
    on_day = Q()
    for day in days:
        on_day |= Q(date_joined__month=day.month, date_joined__day=day.day)
    if 2 in {day.month for day in days} or 3 in {day.month for day in days}:
        on_day |= Q(date_joined__month=2, date_joined__day=29)
    return User.objects.filter(
        on_day,
        level__in=codes,
        is_active=True,
        status=AccountStatus.ACTIVE,
        date_joined__lte=at - timedelta(days=360),
    ).order_by("pk")


def issue_anniversary_coupons(*, at: datetime | None = None) -> int:
    """Issue each due Gold-or-above member one anniversary coupon per anniversary year; safe to run twice."""
    at = at or timezone.now()
    issued = 0
    for user in _anniversary_candidates(at=at).iterator():
        year = due_anniversary_year(joined_at=user.date_joined, at=at, zone=member_zone(user))
        if year is not None and issue_anniversary_coupon(user=user, year=year, at=at) is not None:
            issued += 1
    return issued


@transaction.atomic
def issue_anniversary_coupon(*, user, year: int, at: datetime | None = None):
    """Issue the member's anniversary coupon for `year` at most once (key anniversary:<member>:<year>)."""
    from accounts.notify import notify
    from accounts.selectors import region_for_country
    from coupons.models import CouponSource, LedgerEntry
    from coupons.services import issue_coupon

    at = at or timezone.now()
    key = f"anniversary:{user.pk}:{year}"
    # The member's row lock serialises two sweeps; the second then sees the first's ledger row.
    locked = User.objects.select_for_update().get(pk=user.pk)
    if LedgerEntry.objects.filter(idempotency_key=key).exists():
        return None
    level = level_of(locked)
    if level.anniversary_coupon_value <= 0:
        return None
    region = region_for_country(str(locked.country))
    coupon = issue_coupon(
        owner=locked,
        source=CouponSource.ANNIVERSARY,
        value=level.anniversary_coupon_value,
        min_spend=level.anniversary_coupon_min_spend,
        currency=region.currency,
        idempotency_key=key,
        reason=f"{level.get_code_display()} membership anniversary {year}",
        title=f"Happy anniversary: {level.get_code_display()} member gift",
        issued_at=at,
    )
    notify(
        user=locked,
        kind="anniversary_coupon",
        title="Happy anniversary! A coupon is waiting in My Coupons",
        body=(
            f"Thank you for another year with us. As a {level.get_code_display()} member you get a "
            f"{coupon.value} {coupon.currency} coupon (minimum spend {coupon.min_spend})."
        ),
        link=reverse("coupons:wallet"),
        dedupe_key=key,
    )
    return coupon
