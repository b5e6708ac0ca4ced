"""This program month's referral coupons against the monthly limit, and what the member earned so far.

"One number, one definition" (docs/program-rules.md section 9): the meter reads the monthly counter row that
crediting raises, for the program month of `referrals.program.program_month`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from django.db.models import Count, F, Q, QuerySet, Sum

from accounts.models import Region, User
from accounts.selectors import region_for_country
from coupons.models import Coupon, CouponSource, CouponStatus
from lib import sqlonce
from referrals.models import MonthlyRewardCounter, Referral
from referrals.program import next_program_month, program_month
from referrals.reasons import ON_THE_WAY_STATES
from referrals.terms import frozen_reward, reward_from_region

# The warning zone starts this many coupons before the limit (8 of 10).
NEAR_LIMIT = 2


@dataclass(frozen=True)
class MonthlyProgress:
    count: int
    limit: int
    month: date
    resets_on: date
    time_zone: str

    @property
    def remaining(self) -> int:
        return max(self.limit - self.count, 0)

    @property
    def is_full(self) -> bool:
        return self.count >= self.limit

    @property
    def is_near(self) -> bool:
        """The warning zone: two or fewer coupons left (8 of 10), not yet full."""
        return not self.is_full and self.count >= self.limit - NEAR_LIMIT


def _counter(member_id: int, month: date) -> QuerySet:
    return MonthlyRewardCounter.objects.filter(referrer_id=member_id, month=month).order_by("pk").values_list("count")


def monthly_progress(*, member: User, now: datetime, region: Region | None = None) -> MonthlyProgress:
    """Coupons credited this program month (the counter row is the authority) and when it resets."""
    region = region or region_for_country(str(member.country))
    month = program_month(at=now, time_zone=region.time_zone)
    found = sqlonce.rows(_counter, member.pk, month, limit=1)
    count = (found[0][0] if found else 0) or 0
    return MonthlyProgress(
        count=count,
        limit=region.monthly_limit,
        month=month,
        resets_on=next_program_month(month),
        time_zone=region.time_zone,
    )


def _earnings(member_id: int) -> QuerySet:
    return (
        Coupon.objects.filter(owner_id=member_id, source=CouponSource.REFERRAL)
        .exclude(status=CouponStatus.VOIDED)
        .values("currency")
        .annotate(total=Sum("value"), n=Count("id"))
        .order_by("currency")
        .values_list("currency", "total", "n")
    )


def referral_earnings(*, member: User) -> list[tuple[str, Decimal, int]]:
    """(currency, total value, coupons) of the member's referral coupons, reversed ones excluded."""
    return [(currency, total, n) for currency, total, n in sqlonce.rows(_earnings, member.pk)]


def coupons_earned(earnings: list[tuple[str, Decimal, int]]) -> int:
    """ "Coupons earned": the number of coupons `referral_earnings` sums, so the two always agree."""
    return sum(n for _currency, _total, n in earnings)


@dataclass(frozen=True)
class OnTheWay:
    """Friends whose first order is placed or completed, and what their coupons are worth within this month's
    remaining slots (a coupon beyond the limit is never issued: it is not on the way)."""

    friends: int
    coupons: int
    amount: Decimal
    currency: str


def _on_the_way_terms(member_id: int) -> QuerySet:
    """The terms of the member's referrals on the way, the first due first."""
    return (
        Referral.objects.filter(referrer_id=member_id, state__in=ON_THE_WAY_STATES)
        .order_by(F("credit_due_at").asc(nulls_last=True), F("order_placed_at").asc(nulls_last=True), "id")
        .values_list("terms")
    )


def on_the_way(*, member: User, progress: MonthlyProgress, region: Region, friends: int | None = None) -> OnTheWay:
    """Money on the way: the member's referrals in ON_THE_WAY_STATES, each worth the reward its frozen terms promise
    (`referrals.terms`; the member's region for one without a snapshot), the first due filling the remaining slots.

    One query, which reads the terms of the first `remaining` only when `friends` (how many are in those states,
    e.g. from `tallies.referral_tallies`) is given, and none when no slot or no friend is left.
    """
    if friends is None:
        snapshots = [terms for (terms,) in sqlonce.rows(_on_the_way_terms, member.pk)]
        friends = len(snapshots)
    else:
        wanted = min(friends, progress.remaining)
        snapshots = [terms for (terms,) in sqlonce.rows(_on_the_way_terms, member.pk, limit=wanted)] if wanted else []
    coupons = min(friends, progress.remaining)
    today = reward_from_region(region)
    due = [frozen_reward(snapshot) if snapshot else today for snapshot in snapshots[:coupons]]
    # A snapshot in another currency (the member has since moved to another region) is not added into this one.
    amount = sum((terms.reward_amount for terms in due if terms.currency == region.currency), Decimal("0"))
    return OnTheWay(friends=friends, coupons=coupons, amount=amount, currency=region.currency)


def counted_this_month(*, now: datetime) -> int:
    """Referral coupons counted against the monthly limit this program month, over all members.

    The sum of what every member's meter shows (`monthly_progress`): each member's counter row for the current
    program month of their region (unlisted countries: the default region), in that region's time zone. One
    query for the regions, one for the sum. Manual credits by staff use no slot (section 3) and are not in it.
    """
    regions = list(Region.objects.only("country", "time_zone", "is_default"))
    listed = [region.country for region in regions if not region.is_default]
    in_month = Q(pk__in=[])
    for region in regions:
        members = ~Q(referrer__country__in=listed) if region.is_default else Q(referrer__country=region.country)
        in_month |= members & Q(month=program_month(at=now, time_zone=region.time_zone))
    return MonthlyRewardCounter.objects.filter(in_month).aggregate(n=Sum("count"))["n"] or 0
