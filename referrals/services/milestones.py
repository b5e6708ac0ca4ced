"""Milestones: a bonus coupon for the Nth friend credited in a calendar quarter, issued once, reversed with the
reward that reached it (docs/program-rules.md section 3, milestones).

Exactly once under any concurrency, the way the monthly limit holds (G2): each credit raises the referrer's
counter row for the quarter with one atomic UPDATE in the crediting transaction, so it learns its own place
(the row lock orders concurrent credits); only the credit whose place equals a tier's count issues that tier's
coupon, and a partial unique constraint keeps one standing award per referrer, tier and quarter.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import F
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.locales import member_money_locale
from accounts.models import Region
from accounts.notify import notify
from accounts.selectors import region_for_country
from coupons.models import Coupon, CouponSource, CouponStatus
from coupons.services import issue_coupon, reverse_reward_coupon
from lib.money import format_money
from referrals.models import MilestoneAward, MilestoneTier, QuarterCreditCounter, Referral
from referrals.program import program_quarter
from referrals.services.timeline import record_note


def award_key(*, referrer_id: int, tier_id: int, quarter: str, referral_id: int) -> str:
    return f"milestone:{referrer_id}:{tier_id}:{quarter}:{referral_id}"


def count_credit(*, referral: Referral, region: Region, at: datetime) -> list[MilestoneAward]:
    """The one call crediting makes after a referral is credited (inside its transaction): count the friend in
    the quarter and issue the milestone that count reaches, if any. Returns the awards issued (usually none)."""
    quarter = program_quarter(at=at, time_zone=region.time_zone)
    QuarterCreditCounter.objects.bulk_create(
        [QuarterCreditCounter(referrer_id=referral.referrer_id, quarter=quarter, count=0)], ignore_conflicts=True
    )
    counter = QuarterCreditCounter.objects.filter(referrer_id=referral.referrer_id, quarter=quarter)
    counter.update(count=F("count") + 1)
    # The row is locked by this transaction's UPDATE: the count read now is this credit's own place.
    place = counter.values_list("count", flat=True).get()
    tiers = MilestoneTier.objects.filter(region=region, is_active=True, friends=place)
    awards = []
    for tier in tiers:
        if MilestoneAward.objects.filter(
            referrer_id=referral.referrer_id, tier=tier, quarter=quarter, reversed_at__isnull=True
        ).exists():
            continue  # reached again after a reversal of another friend: the standing award stays the one
        coupon = issue_coupon(
            member=referral.referrer,
            source=CouponSource.MILESTONE,
            value=tier.value,
            min_spend=tier.min_spend,
            currency=region.currency,
            valid_days=tier.valid_days,
            issued_at=at,
            title=_("Milestone bonus: %(count)s friends this quarter") % {"count": tier.friends},
            idempotency_key=award_key(
                referrer_id=referral.referrer_id, tier_id=tier.pk, quarter=f"{quarter:%Y-%m}", referral_id=referral.pk
            ),
            reason=f"Milestone: {tier.friends} friends credited in the quarter from {quarter:%Y-%m-%d}",
        )
        award = MilestoneAward.objects.create(
            referrer_id=referral.referrer_id,
            tier=tier,
            quarter=quarter,
            friends=tier.friends,
            referral=referral,
            coupon=coupon,
            awarded_at=at,
        )
        awards.append(award)
        record_note(
            referral=referral,
            occurred_at=at,
            note=f"Milestone reached: friend {tier.friends} credited this quarter; bonus coupon #{coupon.pk} issued.",
        )
        _notify_awarded(referral=referral, award=award)
    return awards


def _notify_awarded(*, referral: Referral, award: MilestoneAward) -> None:
    amount = format_money(award.coupon.value, award.coupon.currency, member_money_locale(referral.referrer))
    notify(
        member=referral.referrer,
        kind="referral_milestone",
        title=_("Milestone reached: %(count)s friends this quarter") % {"count": award.friends},
        body=_(
            "You reached %(count)s credited friends this quarter, so we added a %(amount)s bonus coupon to My Coupons."
        )
        % {"count": award.friends, "amount": amount},
        link=reverse("coupons:wallet"),
        dedupe_key=f"referral-milestone:{award.pk}",
    )


@dataclass(frozen=True)
class MilestoneReversal:
    """What reversing a reward did to the milestones it reached: coupons withdrawn, and coupons already spent
    (support decides those, with the reward's reversal case)."""

    withdrawn: tuple[Coupon, ...] = ()
    spent: tuple[Coupon, ...] = ()


def reverse_milestones(*, referral: Referral, credited_at: datetime, reason: str) -> MilestoneReversal:
    """A reward taken back: the friend leaves the quarter's count and every standing award this referral's credit
    reached is reversed (its coupon voided when unused; a spent one is reported). Once per referral."""
    region = region_for_country(str(referral.referrer.country))
    quarter = program_quarter(at=credited_at, time_zone=region.time_zone)
    QuarterCreditCounter.objects.filter(referrer_id=referral.referrer_id, quarter=quarter, count__gt=0).update(
        count=F("count") - 1
    )
    withdrawn, spent = [], []
    now = timezone.now()
    for award in (
        MilestoneAward.objects.select_for_update()
        .select_related("coupon")
        .filter(referral=referral, reversed_at__isnull=True)
    ):
        MilestoneAward.objects.filter(pk=award.pk).update(reversed_at=now)
        coupon = award.coupon
        if reverse_reward_coupon(
            coupon=coupon, referral=referral, reason=reason, idempotency_key=f"milestone-reversal:{award.pk}"
        ):
            withdrawn.append(coupon)
        elif coupon.status == CouponStatus.USED:
            spent.append(coupon)
        record_note(
            referral=referral,
            occurred_at=now,
            note=f"Milestone bonus coupon #{coupon.pk} ({award.friends} friends this quarter) reversed with the reward",
        )
    return MilestoneReversal(withdrawn=tuple(withdrawn), spent=tuple(spent))
