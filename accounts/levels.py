"""Member levels: the Level table's rules, the level a number of points gives, and its benefits
(docs/program-rules.md section 8).

- Points are what a member's completed orders earn: `orders.points` counts them (1 per whole currency unit of
  orders completed in the last 12 months) and stores them here with `set_level_points`, the one write of
  `User.level_points` / `User.level`.
- Levels and benefits live in `accounts.Level` rows (admin-editable; defaults from migration 0004): Gold and above
  get a yearly anniversary coupon (issued by `coupons.anniversary`, on the date rules below), Platinum and above
  have refunds under a limit approved at once (`fast_refund_decision`), Diamond support requests come first
  (`support_priority_for`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db import transaction

from accounts.models import Level, LevelCode, User
from lib import sqlonce

logger = logging.getLogger(__name__)

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


def _levels():
    return Level.objects.order_by("min_points", "id")


def all_levels() -> list[Level]:
    """Every level, lowest threshold first (the built-in defaults if none are stored)."""
    levels = sqlonce.instances(_levels)
    return levels or [Level(**row) for row in DEFAULT_LEVELS]


def level_for_points(points: int, levels: list[Level]) -> Level:
    """The highest level whose threshold the points reach."""
    reached = [level for level in levels if level.min_points <= points]
    return max(reached, key=lambda level: level.min_points) if reached else levels[0]


def next_level(current: Level, levels: list[Level]) -> Level | None:
    higher = [level for level in levels if level.min_points > current.min_points]
    return min(higher, key=lambda level: level.min_points) if higher else None


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


def member_zone(member: User) -> ZoneInfo:
    """The member's time zone (UTC if the stored name is unknown)."""
    try:
        return ZoneInfo(member.time_zone or "UTC")
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


def level_of(member: User) -> Level:
    """The member's stored level's settings."""
    levels = all_levels()
    return next((level for level in levels if level.code == member.level), levels[0])


def support_priority_for(*, member: User | None) -> int:
    """Support queue priority of the member's requests: lower comes first (Diamond 0, everyone else 100).

    Call it when a support request is created and store the number on the
    request; order the staff queue by (priority, created_at).
    """
    if member is None or not getattr(member, "pk", None):
        return DEFAULT_SUPPORT_PRIORITY
    return level_of(member).support_priority


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


def standing_for(*, member: User) -> Standing:
    levels = all_levels()
    current = next((level for level in levels if level.code == member.level), levels[0])
    upcoming = next_level(current, levels)
    return Standing(
        level=current,
        points=member.level_points,
        next_level=upcoming,
        points_to_next=max(upcoming.min_points - member.level_points, 0) if upcoming else 0,
        levels=levels,
        points_expire_at=member.points_expire_at,
    )


# --- Writes -----------------------------------------------------------------------------

_LEVEL_FIELDS = ["level_points", "level", "level_updated_at", "points_expire_at"]


def _locked_member(pk: int):
    return User.objects.select_for_update().filter(pk=pk)


def lock_member(*, pk: int) -> User:
    """The member's row, locked until the transaction ends (User.DoesNotExist if there is none)."""
    found = sqlonce.instances(_locked_member, pk)
    if not found:
        raise User.DoesNotExist("User matching query does not exist.")
    return found[0]


@transaction.atomic(savepoint=False)  # nothing to roll back alone; an error ends the caller's transaction
def set_level_points(
    *, member: User, points: int, points_expire_at: datetime | None, at: datetime, locked: User | None = None
) -> User:
    """Store the member's points, the level they give and when the oldest counted order stops counting, as of `at`.

    The one write of a member's level (orders.points.recompute_level calls it with the points it counted). Under
    the member's row lock (`locked`: the caller's `lock_member` row, read in this transaction); safe to repeat.
    The new values are copied onto `member` too.
    """
    if locked is None:
        locked = lock_member(pk=member.pk)
    level = level_for_points(points, all_levels())
    previous = locked.level
    locked.level_points = points
    locked.level = level.code
    locked.level_updated_at = at
    locked.points_expire_at = points_expire_at
    sqlonce.update_fields(locked, _LEVEL_FIELDS)  # User.save() only normalises the e-mail, not written here
    if level.code != previous:
        logger.info("member %s level %s -> %s (%s points)", locked.pk, previous, level.code, points)
    for name in _LEVEL_FIELDS:
        setattr(member, name, getattr(locked, name))
    return member
