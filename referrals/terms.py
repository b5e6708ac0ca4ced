"""The terms promised with one invitation, frozen at sign-up (docs/program-rules.md section 7, "Terms frozen").

At sign-up through a link, `snapshot_terms` copies the regions' settings in force into `Referral.terms`:
the friend's welcome package (the friend's region) and the referrer's reward, its minimum spend, the coupon
validity, the monthly limit and the program time zone (the referrer's region). A later change of a region
never changes what was promised: pages, the admin and crediting read the referral's terms through
`referral_terms` (and crediting through `reward_terms`, its one read), never the region directly.

A referral without a snapshot (none is left after migration 0006; a row written by hand could be) reads its
regions as they are today, marked `frozen=False` so staff can tell.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.utils.dateparse import parse_datetime

from accounts.models import Region, WelcomeCoupon, WelcomePackage
from accounts.selectors import region_for_country
from referrals.models import Referral

TERMS_VERSION = 1


@dataclass(frozen=True)
class RewardTerms:
    """The referrer's side: what one credited referral pays and the limit it counts against."""

    currency: str
    reward_amount: Decimal
    reward_min_spend: Decimal
    coupon_valid_days: int
    monthly_limit: int
    time_zone: str


@dataclass(frozen=True)
class WelcomeTerms:
    """The friend's side: the welcome package promised at sign-up."""

    currency: str
    package: WelcomePackage
    coupon_valid_days: int


@dataclass(frozen=True)
class ReferralTerms:
    reward: RewardTerms
    welcome: WelcomeTerms
    captured_at: datetime | None
    frozen: bool  # False: no snapshot stored, read from today's regions


def reward_from_region(region: Region) -> RewardTerms:
    return RewardTerms(
        currency=region.currency,
        reward_amount=region.reward_amount,
        reward_min_spend=region.reward_min_spend,
        coupon_valid_days=region.coupon_valid_days,
        monthly_limit=region.monthly_limit,
        time_zone=region.time_zone or "UTC",
    )


def _welcome_from_region(region: Region) -> WelcomeTerms:
    return WelcomeTerms(
        currency=region.currency, package=region.welcome_coupons(), coupon_valid_days=region.coupon_valid_days
    )


def snapshot_terms(*, friend_region: Region, referrer_region: Region, at: datetime) -> dict:
    """The terms in force at `at`, as the JSON stored in `Referral.terms` (amounts as strings)."""
    return {
        "version": TERMS_VERSION,
        "captured_at": at.isoformat(),
        "friend": {
            "country": friend_region.country,
            "currency": friend_region.currency,
            "welcome_package": [
                {"value": str(item.value), "min_spend": str(item.min_spend)} for item in friend_region.welcome_coupons()
            ],
            "coupon_valid_days": friend_region.coupon_valid_days,
        },
        "referrer": {
            "country": referrer_region.country,
            "currency": referrer_region.currency,
            "reward_amount": str(referrer_region.reward_amount),
            "reward_min_spend": str(referrer_region.reward_min_spend),
            "coupon_valid_days": referrer_region.coupon_valid_days,
            "monthly_limit": referrer_region.monthly_limit,
            "time_zone": referrer_region.time_zone or "UTC",
        },
    }


def snapshot_for(*, friend_country: str, referrer_country: str, at: datetime) -> dict:
    """`snapshot_terms` for the regions of two account countries (the default region for unlisted ones)."""
    return snapshot_terms(
        friend_region=region_for_country(friend_country),
        referrer_region=region_for_country(referrer_country),
        at=at,
    )


def _parse(data: dict) -> ReferralTerms:
    friend, referrer = data["friend"], data["referrer"]
    return ReferralTerms(
        reward=RewardTerms(
            currency=referrer["currency"],
            reward_amount=Decimal(referrer["reward_amount"]),
            reward_min_spend=Decimal(referrer["reward_min_spend"]),
            coupon_valid_days=int(referrer["coupon_valid_days"]),
            monthly_limit=int(referrer["monthly_limit"]),
            time_zone=referrer["time_zone"] or "UTC",
        ),
        welcome=WelcomeTerms(
            currency=friend["currency"],
            package=WelcomePackage(
                items=tuple(
                    WelcomeCoupon(value=Decimal(item["value"]), min_spend=Decimal(item["min_spend"]))
                    for item in friend["welcome_package"]
                )
            ),
            coupon_valid_days=int(friend["coupon_valid_days"]),
        ),
        captured_at=parse_datetime(data.get("captured_at") or ""),
        frozen=True,
    )


def referral_terms(referral: Referral) -> ReferralTerms:
    """What this invitation promised: the stored snapshot, else (no snapshot) the regions as they are today."""
    if referral.terms:
        return _parse(referral.terms)
    return ReferralTerms(
        reward=reward_from_region(region_for_country(str(referral.referrer.country))),
        welcome=_welcome_from_region(region_for_country(str(referral.friend.country))),
        captured_at=None,
        frozen=False,
    )


def frozen_reward(data: dict) -> RewardTerms:
    """The referrer's side of a stored snapshot: what crediting pays (read by `referrals.services.terms`)."""
    return _parse(data).reward


def reward_terms(referral: Referral) -> RewardTerms:
    """The referrer's reward, validity, monthly limit and time zone this referral promised (crediting reads them
    through `referrals.services.terms`, which takes a batch at once)."""
    return referral_terms(referral).reward
