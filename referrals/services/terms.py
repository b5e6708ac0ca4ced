"""The terms a referral is credited on: the ONE place crediting reads them (docs/program-rules.md sections 3, 7).

Every referral carries the terms frozen when the friend signed up (`Referral.terms`, `referrals.terms`); crediting
(both paths: the per-referral task and the sweep's batches), staff credits and the monthly-slot release read them
here, as `referrals.terms.RewardTerms`. A referral without a snapshot (none after migration 0008; a row written by
hand could be) is credited on its referrer's region's current settings.

Regions are a handful of rows: for the fallback they are read once per call (the sweep: once per batch) and, when
`REWARD_TERMS_CACHE_SECONDS` is set, kept that long per process.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from django.conf import settings

from accounts.models import Region
from referrals.models import Referral
from referrals.terms import RewardTerms, frozen_reward, reward_from_region

_cache: tuple[float, dict[str, RewardTerms], RewardTerms | None] | None = None


def _by_country() -> tuple[dict[str, RewardTerms], RewardTerms | None]:
    global _cache
    ttl = getattr(settings, "REWARD_TERMS_CACHE_SECONDS", 0)
    if _cache is not None and ttl and time.monotonic() - _cache[0] < ttl:
        return _cache[1], _cache[2]
    by_country, default = {}, None
    for region in Region.objects.all():
        by_country[region.country.upper()] = reward_from_region(region)
        if region.is_default:
            default = by_country[region.country.upper()]
    _cache = (time.monotonic(), by_country, default)
    return by_country, default


def forget_cached_terms() -> None:
    """Drop the per-process copy of the regions (tests; a process that must see a region edit at once)."""
    global _cache
    _cache = None


def reward_terms(referrals: Iterable[tuple[int, str, dict | None]]) -> dict[int, RewardTerms]:
    """{referral id: terms} for (referral id, referrer's country, frozen snapshot or None) triples: the snapshot's
    reward side when there is one, else the referrer's region today; one query at most for any number."""
    result: dict[int, RewardTerms] = {}
    fallback: tuple[dict[str, RewardTerms], RewardTerms | None] | None = None
    for referral_id, country, snapshot in referrals:
        if snapshot:
            result[referral_id] = frozen_reward(snapshot)
            continue
        fallback = fallback or _by_country()
        by_country, default = fallback
        terms = by_country.get((country or "").upper(), default)
        if terms is None:
            raise Region.DoesNotExist(f"no region for {country!r} and no default region")
        result[referral_id] = terms
    return result


def terms_for(referral: Referral) -> RewardTerms:
    """One referral's terms (the per-referral path and staff credits)."""
    return reward_terms([(referral.pk, str(referral.referrer.country), referral.terms)])[referral.pk]
