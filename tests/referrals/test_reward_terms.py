"""The one place crediting reads a referral's terms (referrals.services.terms): the frozen snapshot, else the region."""

from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.models import Region
from referrals.services.terms import forget_cached_terms, reward_terms
from referrals.terms import snapshot_for

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh():
    forget_cached_terms()
    yield
    forget_cached_terms()


def _gb() -> Region:
    return Region.objects.create(
        country="GB",
        name="United Kingdom",
        currency="GBP",
        reward_amount=Decimal("4.00"),
        reward_min_spend=Decimal("15.00"),
        coupon_valid_days=14,
        monthly_limit=2,
        time_zone="Europe/London",
    )


def test_without_a_snapshot_a_listed_country_has_its_regions_terms_and_others_the_default(
    django_assert_max_num_queries,
):
    _gb()
    with django_assert_max_num_queries(1):
        terms = reward_terms([(1, "gb", None), (2, "FR", None), (3, "", {})])
    assert (terms[1].currency, terms[1].reward_amount, terms[1].monthly_limit, terms[1].coupon_valid_days) == (
        "GBP",
        Decimal("4.00"),
        2,
        14,
    )
    default = Region.objects.get(is_default=True)
    assert terms[2] == terms[3]
    assert (terms[2].currency, terms[2].monthly_limit) == (default.currency, default.monthly_limit)


def test_a_frozen_snapshot_wins_over_todays_region_without_a_query(django_assert_num_queries):
    _gb()
    snapshot = snapshot_for(friend_country="GB", referrer_country="GB", at=timezone.now())
    Region.objects.filter(country="GB").update(reward_amount=Decimal("9.00"), monthly_limit=7)
    with django_assert_num_queries(0):
        terms = reward_terms([(1, "GB", snapshot)])
    assert (terms[1].reward_amount, terms[1].monthly_limit) == (Decimal("4.00"), 2)


def test_with_a_cache_a_worker_reads_the_regions_once_and_sees_an_edit_after_it(settings, django_assert_num_queries):
    settings.REWARD_TERMS_CACHE_SECONDS = 60
    first = reward_terms([(1, "US", None)])[1]
    Region.objects.filter(country="US").update(monthly_limit=3)
    with django_assert_num_queries(0):
        assert reward_terms([(2, "US", None)])[2] == first  # kept for up to REWARD_TERMS_CACHE_SECONDS
    forget_cached_terms()
    assert reward_terms([(3, "US", None)])[3].monthly_limit == 3
