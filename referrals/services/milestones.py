"""Milestones: a bonus coupon for the Nth friend credited in a calendar quarter, issued once, reversed with the
reward that reached it (docs/program-rules.md section 3, milestones).

Exactly once under any concurrency, the way the monthly limit holds (G2): each credit raises the referrer's
counter row for the quarter in the crediting transaction, under the row's lock, so it learns its own place
(the lock orders concurrent credits; a batch of credits locks its counters in id order); only the credit whose
place equals a tier's count issues that tier's coupon, and a partial unique constraint keeps one standing award
per referrer, tier and quarter.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

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


@dataclass(frozen=True)
class Credit:
    """One credit to count: the referral, its referrer and the referrer's account country (its region)."""

    referral_id: int
    referrer_id: int
    country: str


def count_credit(*, referral: Referral, region: Region, at: datetime) -> list[MilestoneAward]:
    """The call a single credit makes (staff credits), inside its transaction: `count_credits` for a set of one."""
    return count_credits([Credit(referral.pk, referral.referrer_id, region.country)], at=at, regions=[region])


def count_credits(
    credits: Sequence[Credit], *, at: datetime, regions: Iterable[Region] | None = None
) -> list[MilestoneAward]:
    """The one call crediting makes for the referrals it credited (inside its transaction; the sweep's batches and
    the per-referral task through `batch.credit_locked`): count each friend in its referrer's quarter and issue
    the milestone a count reaches, if any. Set-based: the counters are created with INSERT … ON CONFLICT DO
    NOTHING, locked in id order (two writers never deadlock) and raised by one UPDATE per distinct increment; each
    credit's place is read under those locks. Returns the awards issued (usually none)."""
    if not credits:
        return []
    by_country = {region.country.upper(): region for region in (regions or Region.objects.all())}
    default = next((region for region in by_country.values() if region.is_default), None)

    def region_of(country: str) -> Region:
        return by_country.get((country or "").upper()) or default or region_for_country(country)

    quarters: dict[str, date] = {}
    keyed: list[tuple[Credit, Region, tuple[int, date]]] = []
    for credit in credits:
        region = region_of(credit.country)
        zone = region.time_zone or "UTC"
        if zone not in quarters:
            quarters[zone] = program_quarter(at=at, time_zone=zone)
        keyed.append((credit, region, (credit.referrer_id, quarters[zone])))
    keys = sorted({key for _c, _r, key in keyed})
    QuarterCreditCounter.objects.bulk_create(
        [QuarterCreditCounter(referrer_id=r, quarter=q, count=0) for r, q in keys], ignore_conflicts=True
    )
    locked = (
        QuarterCreditCounter.objects.select_for_update()
        .filter(referrer_id__in={r for r, _q in keys}, quarter__in={q for _r, q in keys})
        .order_by("pk")
    )
    counters = {(c.referrer_id, c.quarter): c for c in locked if (c.referrer_id, c.quarter) in set(keys)}
    counts = {key: counter.count for key, counter in counters.items()}
    places: list[tuple[Credit, Region, date, int]] = []
    for credit, region, key in keyed:
        counts[key] += 1
        places.append((credit, region, key[1], counts[key]))
    by_increment: defaultdict[int, list[int]] = defaultdict(list)
    for key, counter in counters.items():
        by_increment[counts[key] - counter.count].append(counter.pk)
    for increment, ids in by_increment.items():
        QuarterCreditCounter.objects.filter(pk__in=ids).update(count=F("count") + increment)
    return award_places(
        [(credit.referral_id, region.pk, quarter, place) for credit, region, quarter, place in places], at=at
    )


def award_places(places: Sequence[tuple[int, int, date, int]], *, at: datetime) -> list[MilestoneAward]:
    """(referral id, region id, quarter, place in the quarter) of counted credits → the milestones they reach,
    issued (the tail of `count_credits`; the PostgreSQL credit function counts and calls this when a tier is hit)."""
    tiers: defaultdict[tuple[int, int], list[MilestoneTier]] = defaultdict(list)
    for tier in MilestoneTier.objects.filter(
        region_id__in={region_id for _r, region_id, _q, _p in places},
        is_active=True,
        friends__in={place for _r, _g, _q, place in places},
    ).select_related("region"):
        tiers[(tier.region_id, tier.friends)].append(tier)
    reached = [
        (referral_id, quarter, tier)
        for referral_id, region_id, quarter, place in places
        for tier in tiers[(region_id, place)]
    ]
    if not reached:
        return []
    referrals = Referral.objects.select_related("referrer").in_bulk([referral_id for referral_id, _q, _t in reached])
    return [
        award
        for referral_id, quarter, tier in reached
        if (award := _award(referral=referrals[referral_id], tier=tier, quarter=quarter, at=at)) is not None
    ]


def _award(*, referral: Referral, tier: MilestoneTier, quarter: date, at: datetime) -> MilestoneAward | None:
    """Issue `tier` for the credit of `referral`, whose place in the quarter equals the tier's count."""
    if MilestoneAward.objects.filter(
        referrer_id=referral.referrer_id, tier=tier, quarter=quarter, reversed_at__isnull=True
    ).exists():
        return None  # reached again after a reversal of another friend: the standing award stays the one
    coupon = issue_coupon(
        member=referral.referrer,
        source=CouponSource.MILESTONE,
        value=tier.value,
        min_spend=tier.min_spend,
        currency=tier.region.currency,
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
    record_note(
        referral=referral,
        occurred_at=at,
        note=f"Milestone reached: friend {tier.friends} credited this quarter; bonus coupon #{coupon.pk} issued.",
    )
    _notify_awarded(referral=referral, award=award)
    return award


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
