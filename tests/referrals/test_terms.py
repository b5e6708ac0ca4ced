"""The one place crediting reads a referral's terms (referrals.services.terms)."""

from decimal import Decimal

import pytest

from accounts.models import Region
from referrals.services.terms import forget_cached_terms, reward_terms, terms_for

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh():
    forget_cached_terms()
    yield
    forget_cached_terms()


def test_a_listed_country_has_its_regions_terms_and_others_the_default_regions(django_assert_max_num_queries):
    Region.objects.create(
        country="GB",
        name="United Kingdom",
        currency="GBP",
        reward_amount=Decimal("4.00"),
        reward_min_spend=Decimal("15.00"),
        coupon_valid_days=14,
        monthly_limit=2,
        time_zone="Europe/London",
    )
    with django_assert_max_num_queries(1):
        terms = reward_terms([(1, "gb"), (2, "FR"), (3, "")])
    assert (terms[1].currency, terms[1].value, terms[1].monthly_limit, terms[1].valid_days) == (
        "GBP",
        Decimal("4.00"),
        2,
        14,
    )
    default = Region.objects.get(is_default=True)
    assert terms[2] == terms[3]
    assert (terms[2].currency, terms[2].monthly_limit) == (default.currency, default.monthly_limit)


def test_with_a_cache_a_worker_reads_the_regions_once_and_sees_an_edit_after_it(settings, django_assert_num_queries):
    settings.REWARD_TERMS_CACHE_SECONDS = 60
    first = terms_for(1, "US")
    Region.objects.filter(country="US").update(monthly_limit=3)
    with django_assert_num_queries(0):
        assert terms_for(2, "US") == first  # kept for up to REWARD_TERMS_CACHE_SECONDS
    forget_cached_terms()
    assert terms_for(3, "US").monthly_limit == 3
