"""The terms a referral is credited on: the ONE place crediting reads them (docs/program-rules.md section 3).

Today every referral is credited on its referrer's region's current settings (the country's row, else
the default region's). A change to per-referral terms (frozen when the referral was made) replaces the
body of `reward_terms` only: both crediting paths, staff credits and the monthly-slot release call it.

Regions are a handful of rows: they are read once per call (the sweep: once per batch) and, when
`REWARD_TERMS_CACHE_SECONDS` is set, kept that long per process, so the per-referral credit task does
not re-read them for every referral. A staff edit of a region applies after at most that long.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings

from accounts.models import Region


@dataclass(frozen=True)
class RewardTerms:
    value: Decimal
    min_spend: Decimal
    currency: str
    valid_days: int
    monthly_limit: int
    time_zone: str


_cache: tuple[float, dict[str, RewardTerms], RewardTerms | None] | None = None


def _terms(region: Region) -> RewardTerms:
    return RewardTerms(
        value=region.reward_amount,
        min_spend=region.reward_min_spend,
        currency=region.currency,
        valid_days=region.coupon_valid_days,
        monthly_limit=region.monthly_limit,
        time_zone=region.time_zone,
    )


def _by_country() -> tuple[dict[str, RewardTerms], RewardTerms | None]:
    global _cache
    ttl = getattr(settings, "REWARD_TERMS_CACHE_SECONDS", 0)
    if _cache is not None and ttl and time.monotonic() - _cache[0] < ttl:
        return _cache[1], _cache[2]
    by_country, default = {}, None
    for region in Region.objects.all():
        by_country[region.country.upper()] = _terms(region)
        if region.is_default:
            default = by_country[region.country.upper()]
    _cache = (time.monotonic(), by_country, default)
    return by_country, default


def forget_cached_terms() -> None:
    """Drop the per-process copy (tests; a process that must see a region edit at once)."""
    global _cache
    _cache = None


def reward_terms(referrals: Iterable[tuple[int, str]]) -> dict[int, RewardTerms]:
    """{referral id: terms} for (referral id, referrer's country) pairs; one query at most for any number."""
    by_country, default = _by_country()
    result = {}
    for referral_id, country in referrals:
        terms = by_country.get((country or "").upper(), default)
        if terms is None:
            raise Region.DoesNotExist(f"no region for {country!r} and no default region")
        result[referral_id] = terms
    return result


def terms_for(referral_id: int, country: str) -> RewardTerms:
    """One referral's terms (the per-referral path and staff credits)."""
    return reward_terms([(referral_id, country)])[referral_id]
