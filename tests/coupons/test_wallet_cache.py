"""The My Coupons content cache: a hit skips the page's queries, any change the page shows is fresh at once."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from coupons.coins import move_coins
from coupons.models import CoinLedger, CouponStatus
from coupons.services import expire_overdue_coupons, void_coupon
from referrals.models import MonthlyRewardCounter
from referrals.services.timeline import transition
from tests.factories import CouponFactory, ReferralFactory, UserFactory

pytestmark = pytest.mark.django_db

URL = "/coupons/"
# A hit: session, user, the version query. Nothing else.
HIT_QUERIES = 3


@pytest.fixture(autouse=True)
def _wallet_page_cache_on(settings):
    settings.WALLET_PAGE_CACHE_SECONDS = 60


def get(client, **params) -> str:
    response = client.get(URL, params)
    assert response.status_code == 200
    return response.content.decode()


def queries(client, **params) -> tuple[int, str]:
    with CaptureQueriesContext(connection) as ctx:
        html = get(client, **params)
    return len(ctx.captured_queries), html


CSRF = re.compile(r'name="csrfmiddlewaretoken" value="[^"]+"')


def cards(html: str) -> list[str]:
    """The titles of the coupon cards in the shown tab (the calculator lists the usable ones on every tab)."""
    return re.findall(r'<p class="coupon-title">([^<]*)</p>', html)


def ready(html: str) -> str:
    return re.search(r'<span class="stat-value">(\d+)</span><span class="stat-label">Coupons ready to use', html).group(
        1
    )


def test_a_hit_runs_only_the_session_user_and_version_queries_and_gives_the_same_html(client, member):
    for n in range(30):
        CouponFactory(owner=member, title=f"Coupon {n}")
    CouponFactory(owner=member, status=CouponStatus.USED, used_at=timezone.now())
    first_count, first = queries(client)
    hit_count, hit = queries(client)
    assert first_count > HIT_QUERIES + 3  # the miss reads region, coupons, history count, referral count, note
    assert hit_count == HIT_QUERIES
    assert CSRF.sub("", hit) == CSRF.sub("", first)  # the header's logout form: a token per request
    assert "Coupon 29" in hit and ready(hit) == "30"


def test_the_cache_is_used_only_when_turned_on(client, member, settings):
    settings.WALLET_PAGE_CACHE_SECONDS = 0
    CouponFactory(owner=member)
    client.get("/")  # the header bell's unread count is then kept in the cache for both visits
    first_count, first = queries(client)
    second_count, second = queries(client)
    assert second_count == first_count > HIT_QUERIES
    assert CSRF.sub("", second) == CSRF.sub("", first)


def test_a_new_coupon_shows_at_once(client, member):
    CouponFactory(owner=member, title="First one")
    assert ready(get(client)) == "1"
    CouponFactory(owner=member, title="Second one")
    html = get(client)
    assert ready(html) == "2" and "Second one" in html


def test_a_used_coupon_leaves_the_list_at_once(client, member):
    coupon = CouponFactory(owner=member, title="Spend me")
    assert "Spend me" in get(client)
    coupon.status = CouponStatus.USED
    coupon.used_at = timezone.now()
    coupon.save(update_fields=["status", "used_at"])
    html = get(client)
    assert ready(html) == "0" and "Spend me" not in html
    assert "Spend me" in get(client, tab="history")


def test_a_voided_coupon_leaves_the_list_at_once(client, member):
    coupon = CouponFactory(owner=member, title="Void me")
    assert ready(get(client)) == "1"
    void_coupon(coupon=coupon, actor=UserFactory(is_staff=True), reason="Issued by mistake")
    html = get(client)
    assert ready(html) == "0" and "Void me" not in html
    assert "voided" in get(client, tab="history")


def test_the_expiry_sweep_renders_again(client, member):
    issued = timezone.now() - timedelta(days=31)
    CouponFactory(owner=member, title="Old one", issued_at=issued, expires_at=issued + timedelta(days=30))
    get(client, tab="history")
    assert queries(client, tab="history")[0] == HIT_QUERIES
    assert expire_overdue_coupons() == 1
    count, html = queries(client, tab="history")
    assert count > HIT_QUERIES
    assert "Old one" in html and "Expired" in html


def test_a_coins_change_shows_at_once(client, member):
    assert "Coins (worth $0.00)" in get(client)
    move_coins(member=member, delta=250, kind=CoinLedger.Kind.MANUAL, idempotency_key="wallet-cache-1", reason="Test")
    html = get(client)
    assert "Coins (worth $2.50)" in html and ">250<" in html


def test_a_coins_balance_written_without_a_ledger_row_still_shows(client, member):
    get(client)
    member.coins = 1250
    member.save(update_fields=["coins"])
    assert "Coins (worth $12.50)" in get(client)


def test_the_monthly_counter_shows_at_once(client, member):
    """The meter reads the MonthlyRewardCounter (as Invite Friends does): a credit, or a slot given back by a
    reversal, changes no coupon of this member's wallet in the same way, so the counter is in the version."""
    meter = "<span>Referral coupons this month</span><span>{} of 10</span>"
    assert meter.format(0) in get(client)
    start = timezone.now().date().replace(day=1)
    counter = MonthlyRewardCounter.objects.create(referrer=member, month=start, count=3)
    assert meter.format(3) in get(client)
    assert queries(client)[0] == HIT_QUERIES
    MonthlyRewardCounter.objects.filter(pk=counter.pk).update(count=2)  # release_monthly_slot
    assert meter.format(2) in get(client)


def test_tabs_each_have_their_own_content(client, member):
    CouponFactory(owner=member, title="Live one")
    CouponFactory(owner=member, title="Spent one", status=CouponStatus.USED, used_at=timezone.now())
    assert cards(get(client)) == ["Live one"]
    assert cards(get(client, tab="history")) == ["Spent one"]
    assert cards(get(client, tab="store")) == []
    assert cards(get(client, tab="nonsense")) == ["Live one"]  # read as the platform tab


def test_a_language_change_renders_in_the_new_language(client, member):
    used = datetime(2026, 3, 10, 12, tzinfo=UTC)
    CouponFactory(owner=member, status=CouponStatus.USED, issued_at=used - timedelta(days=1), used_at=used)
    assert "used 10 Mar 2026" in get(client, tab="history")
    member.language = "de"
    member.save(update_fields=["language"])
    assert "eingelöst am 10. März 2026" in get(client, tab="history")


def test_the_next_minute_renders_again(client, member):
    with time_machine.travel(datetime(2026, 11, 24, 12, 0, 5, tzinfo=UTC), tick=False):
        CouponFactory(owner=member, expires_at=datetime(2026, 11, 25, 12, 5, tzinfo=UTC))
        assert "Expires in 2 days" in get(client)
        assert queries(client)[0] == HIT_QUERIES
    with time_machine.travel(datetime(2026, 11, 24, 12, 1, 0, tzinfo=UTC), tick=False):
        count, html = queries(client)
        assert count > HIT_QUERIES
        assert "Expires in 2 days" in html
    # A day later the same coupon is in its last day: the badge follows the clock, not the cache.
    with time_machine.travel(datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC), tick=False):
        assert "Expires in less than a day" in get(client)


def test_a_welcome_note_goes_when_the_review_ends(client, member):
    referral = ReferralFactory(whatsapp_3_days_ago=True, friend=member, state="under_review")
    assert "waiting for a quick check" in get(client)
    assert transition(referral=referral, to_state="registered", from_states=["under_review"])
    assert "waiting for a quick check" not in get(client)


def test_another_member_never_gets_this_members_coupons(client, member):
    CouponFactory(owner=member, title="Maya secret coupon")
    assert "Maya secret coupon" in get(client)
    other = UserFactory(language="en", time_zone="UTC", country="US")
    other_client = Client()
    other_client.force_login(other)
    theirs = get(other_client)
    assert "Maya secret coupon" not in theirs and ready(theirs) == "0"
    assert "Maya secret coupon" in get(client)


def test_the_calculator_is_never_cached(client, member, monkeypatch):
    a = CouponFactory(owner=member, value="5.00", min_spend="20.00")
    CouponFactory(owner=member, value="10.00", min_spend="50.00")
    get(client)  # the plain page is cached
    stored = []
    real_set = cache.set

    def recording_set(key, value, *args, **kwargs):
        stored.append(key)
        return real_set(key, value, *args, **kwargs)

    monkeypatch.setattr(cache, "set", recording_set)
    first_count, _ = queries(client, pick=[str(a.pk)])
    second_count, second = queries(client, pick=[str(a.pk)])
    assert first_count > HIT_QUERIES and second_count == first_count
    assert not [key for key in stored if key.startswith("wallet:page:")]
    # The picked coupon only: $5.00 off for $20.00, 25%.
    assert "25%" in second and '$20.00</span><span class="stat-label">Required spend' in second
    # The plain page still shows the totals of every usable coupon.
    assert '$70.00</span><span class="stat-label">Required spend' in get(client)


def test_a_broken_cache_only_means_rendering(client, member, monkeypatch):
    CouponFactory(owner=member, title="Still here")

    def broken(*args, **kwargs):
        raise ConnectionError("redis is down")

    monkeypatch.setattr(cache, "get", broken)
    monkeypatch.setattr(cache, "set", broken)
    html = get(client)
    assert "Still here" in html and ready(html) == "1"


def test_a_member_in_germany_sees_amounts_in_en_DE(client, member):
    from accounts.models import Region

    Region.objects.create(country="DE", name="Germany", currency="EUR", locale="de_DE")
    member.country = "DE"
    member.save(update_fields=["country"])
    CouponFactory(owner=member, value="4.00", min_spend="5.00", currency="EUR")
    html = get(client)
    assert "4,00\xa0€" in html and "Min. spend 5,00\xa0€" in html  # Babel's en_DE, not en_US's "€4.00"
    assert "€4.00" not in html


def test_a_country_change_renders_in_the_new_locale(client, member):
    CouponFactory(owner=member, value="5.00", min_spend="20.00", currency="USD")
    assert "Min. spend $20.00" in get(client)
    member.country = "DE"  # the profile form saves the country: en + DE is en_DE
    member.save(update_fields=["country"])
    assert "Min. spend 20,00\xa0US$" in get(client)


def test_a_regions_locale_change_renders_again_though_the_version_does_not_see_regions(client, member):
    from accounts.models import Region

    member.language = "de"  # de_US is no Babel locale: the US region's locale decides, if it is German
    member.save(update_fields=["language"])
    CouponFactory(owner=member, value="5.00", min_spend="20.00", currency="USD")
    assert "20,00\xa0$" in get(client)  # the region says en_US: German's default, de_DE
    Region.objects.filter(country="US").update(locale="de_CH")
    html = get(client)
    assert "$\xa020.00" in html and "20,00\xa0$" not in html
