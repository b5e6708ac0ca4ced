"""The speed work behind docs/performance.md: what it caches, and that it keeps every answer right."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.cache import caches
from django.urls import reverse

from lib.cache import ReusedClientRedisCache
from lib.money import format_money
from referrals.models import ReferralCode
from referrals.selectors import cards, funnel
from support.selectors import open_requests_by_referral
from tests.factories import ClickFactory, CouponFactory, ReferralFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def member_code():
    member = UserFactory()
    return member, ReferralCode.objects.create(user=member, code="SPEED2345")


def test_funnel_is_kept_for_its_ttl_then_read_again(member_code, settings, django_assert_num_queries):
    member, code = member_code
    settings.INVITE_FUNNEL_CACHE_SECONDS = 60
    caches["default"].clear()
    ClickFactory.create_batch(2, referral_code=code, channel="whatsapp")
    with django_assert_num_queries(2):
        assert funnel.cached_channel_funnel(member=member, code=code.code).total.clicks == 2
    ClickFactory(referral_code=code, channel="whatsapp")
    with django_assert_num_queries(0):  # within the TTL: the cached numbers, no query
        assert funnel.cached_channel_funnel(member=member, code=code.code).total.clicks == 2
    caches["default"].clear()  # the TTL ran out
    assert funnel.cached_channel_funnel(member=member, code=code.code).total.clicks == 3


def test_funnel_cache_off_reads_every_time(member_code, settings):
    member, code = member_code
    settings.INVITE_FUNNEL_CACHE_SECONDS = 0
    assert funnel.cached_channel_funnel(member=member, code=code.code).total.clicks == 0
    ClickFactory(referral_code=code, channel="email")
    assert funnel.cached_channel_funnel(member=member, code=code.code).total.clicks == 1


def test_funnel_cache_key_is_per_member_and_code(member_code, settings):
    member, code = member_code
    settings.INVITE_FUNNEL_CACHE_SECONDS = 60
    caches["default"].clear()
    ClickFactory(referral_code=code, channel="email")
    assert funnel.cached_channel_funnel(member=member, code=code.code).total.clicks == 1
    other = UserFactory()
    other_code = ReferralCode.objects.create(user=other, code="OTHER2345")
    assert funnel.cached_channel_funnel(member=other, code=other_code.code).total.clicks == 0


def test_funnel_is_read_from_the_database_when_the_cache_is_down(member_code, settings, monkeypatch):
    member, code = member_code
    settings.INVITE_FUNNEL_CACHE_SECONDS = 60
    ClickFactory(referral_code=code, channel="email")

    def down(*args, **kwargs):
        raise ConnectionError("cache is down")

    monkeypatch.setattr(funnel.cache, "get", down)
    monkeypatch.setattr(funnel.cache, "set", down)
    assert funnel.cached_channel_funnel(member=member, code=code.code).total.clicks == 1


def test_page_count_given_skips_the_count_query(member_code, django_assert_num_queries):
    member, _code = member_code
    from accounts.selectors import region_for_country

    ReferralFactory.create_batch(3, whatsapp_3_days_ago=True, referrer=member)
    region = region_for_country(str(member.country))
    with django_assert_num_queries(3):  # page rows, timelines, open support requests (no COUNT)
        page = cards.referral_page(member=member, count=3, region=region)
        open_requests_by_referral(referral_ids=[r.pk for r in page.object_list])
    assert page.paginator.num_pages == 1 and len(page.object_list) == 3


def test_stat_tiles_are_exact_while_the_funnel_is_cached(client, member_code, settings):
    member, code = member_code
    settings.INVITE_FUNNEL_CACHE_SECONDS = 60
    caches["default"].clear()
    client.force_login(member)
    client.get(reverse("referrals:invite"))  # funnel cached with no sign-up
    credited = ReferralFactory(whatsapp_3_days_ago=True, referrer=member, code=code, state="credited")
    CouponFactory(referral=credited)
    html = client.get(reverse("referrals:invite")).content.decode()
    assert '<span class="stat-value">1</span><span class="stat-label">Sign-ups</span>' in html
    assert '<span class="stat-value">1</span><span class="stat-label">Coupons earned</span>' in html


def test_money_memo_formats_per_currency_and_language():
    from django.utils import translation

    assert format_money(Decimal("5"), "USD") == "$5.00"
    assert format_money(Decimal("5.00"), "EUR") == "€5.00"
    with translation.override("de"):
        assert format_money(Decimal("5"), "EUR") == "5,00\xa0€"
    assert format_money(Decimal("5"), "EUR") == "€5.00"


@pytest.mark.redis
def test_redis_backend_keeps_one_client_and_behaves_like_djangos(redis_url):
    cache = ReusedClientRedisCache(redis_url, {"KEY_PREFIX": "perf-test"})
    client = cache._cache.get_client(write=True)
    assert cache._cache.get_client(write=True) is client
    cache.delete("n")
    assert cache.add("n", 1, timeout=30) is True
    assert cache.add("n", 1, timeout=30) is False
    assert cache.incr("n") == 2
    assert cache.get("n") == 2
    cache.delete("n")


def test_a_new_sign_up_shows_in_the_funnel_at_once_despite_the_cache(client, member_code, settings):
    from tests.factories import ReferralFactory

    member, code = member_code
    settings.INVITE_FUNNEL_CACHE_SECONDS = 60
    caches["default"].clear()
    client.force_login(member)
    assert client.get("/invite/").context["funnel"].total.signups == 0
    ReferralFactory(whatsapp_3_days_ago=True, referrer=member, code=code, channel="whatsapp")
    assert client.get("/invite/").context["funnel"].total.signups == 1
