"""The speed work behind docs/performance.md keeps every answer right."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from lib.cache import ReusedClientRedisCache
from lib.money import format_money
from referrals.models import ReferralCode
from referrals.selectors import cards
from support.selectors import open_requests_by_referral
from tests.factories import ClickFactory, CouponFactory, ReferralFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def member_code():
    member = UserFactory()
    return member, ReferralCode.objects.create(user=member, code="SPEED2345")


def test_page_count_given_skips_the_count_query(member_code, django_assert_num_queries):
    member, _code = member_code
    from accounts.selectors import region_for_country

    ReferralFactory.create_batch(3, whatsapp_3_days_ago=True, referrer=member)
    region = region_for_country(str(member.country))
    with django_assert_num_queries(3):  # page rows, timelines, open support requests (no COUNT)
        page = cards.referral_page(member=member, count=3, region=region)
        open_requests_by_referral(referral_ids=[r.pk for r in page.object_list])
    assert page.paginator.num_pages == 1 and len(page.object_list) == 3


def test_stat_tiles_follow_a_new_credited_friend(client, member_code):
    member, code = member_code
    client.force_login(member)
    client.get(reverse("referrals:invite"))  # a first visit with no sign-up
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


def test_a_new_sign_up_and_a_new_open_show_in_the_funnel_at_once(client, member_code):
    member, code = member_code
    client.force_login(member)
    assert client.get("/invite/").context["funnel"].total.signups == 0
    ReferralFactory(whatsapp_3_days_ago=True, referrer=member, code=code, channel="whatsapp")
    assert client.get("/invite/").context["funnel"].total.signups == 1
    ClickFactory(referral_code=code, channel="email")
    assert client.get("/invite/").context["funnel"].total.clicks == 2  # the sign-up's open, counted, and this one
