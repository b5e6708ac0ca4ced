"""The next milestone on Invite Friends: this quarter's credited friends and the next bonus (docs/program-rules.md
section 3, milestones). Nothing when the referrer's region has no active milestone (the default)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db.models import QuerySet

from accounts.models import Region, User
from lib import sqlonce
from referrals.models import MilestoneAward, MilestoneTier, QuarterCreditCounter
from referrals.program import next_program_quarter, program_quarter


@dataclass(frozen=True)
class MilestoneProgress:
    credited: int  # friends credited this quarter (the count milestones are reached by)
    quarter_ends: date  # the last day of the quarter, in the program time zone
    next_friends: int | None  # the next tier's count; None when every tier is reached
    next_value: Decimal | None
    next_min_spend: Decimal | None
    currency: str
    reached: tuple[int, ...]  # the counts of the tiers already reached this quarter

    @property
    def remaining(self) -> int:
        return max((self.next_friends or 0) - self.credited, 0)

    @property
    def percent(self) -> int:
        return min(100, round(100 * self.credited / self.next_friends)) if self.next_friends else 100


def _active_tiers(region_id: int) -> QuerySet:
    return MilestoneTier.objects.filter(region_id=region_id, is_active=True).order_by("friends")


def milestone_progress(*, member: User, region: Region, now: datetime) -> MilestoneProgress | None:
    """This quarter's progress toward the region's active milestones (three queries), or None if there are none."""
    tiers = sqlonce.instances(_active_tiers, region.pk)
    if not tiers:
        return None
    quarter = program_quarter(at=now, time_zone=region.time_zone)
    credited = (
        QuarterCreditCounter.objects.filter(referrer=member, quarter=quarter).values_list("count", flat=True).first()
        or 0
    )
    reached = set(
        MilestoneAward.objects.filter(referrer=member, quarter=quarter, reversed_at__isnull=True).values_list(
            "tier_id", flat=True
        )
    )
    upcoming = [t for t in tiers if t.pk not in reached and t.friends > credited]
    following = upcoming[0] if upcoming else None
    return MilestoneProgress(
        credited=credited,
        quarter_ends=next_program_quarter(quarter) - timedelta(days=1),
        next_friends=following.friends if following else None,
        next_value=following.value if following else None,
        next_min_spend=following.min_spend if following else None,
        currency=region.currency,
        reached=tuple(t.friends for t in tiers if t.pk in reached),
    )
