"""My Coupons page: wiring, tabs, referral count, calculator and constant query count."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from accounts.models import Region
from coupons.selectors import savings_calculator, wallet_for
from referrals.models import MonthlyRewardCounter
from referrals.selectors.meter import monthly_progress
from referrals.services.crediting import credit_manually
from tests.factories import CouponFactory, ReferralFactory, UserFactory

pytestmark = pytest.mark.django_db
D = Decimal
URL = "/coupons/"


def test_wallet_url_name():
    assert reverse("coupons:wallet") == URL


def test_wallet_needs_login(client):
    response = client.get(URL)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_flagged_member_gets_the_security_refusal(client):
    member = UserFactory(status="flagged")
    client.force_login(member)
    response = client.get(URL)
    assert response.status_code == 403
    assert "For security reasons, your request cannot be processed." in response.content.decode()


def test_tabs_split_kinds_soonest_expiry_first_and_hide_other_members(client, make_store):
    member = UserFactory()
    now = timezone.now()
    late = CouponFactory(owner=member, title="Late one", issued_at=now - timedelta(days=1))
    soon = CouponFactory(owner=member, title="Soon one", issued_at=now - timedelta(days=29))
    store_coupon = CouponFactory(owner=member, kind="store", store=make_store("Bolt Bikes"), title="Bikes $3")
    used = CouponFactory(owner=member, title="Spent one", status="used")
    overdue = CouponFactory(owner=member, title="Overdue one", issued_at=now - timedelta(days=31))  # not swept yet
    CouponFactory(title="Someone else's")
    client.force_login(member)

    platform = client.get(URL).context["wallet"]
    assert [w.coupon for w in platform.coupons] == [soon, late]
    assert platform.counts == {"platform": 2, "store": 1, "history": 2}
    store = client.get(URL, {"tab": "store"}).context["wallet"]
    assert [w.coupon for w in store.coupons] == [store_coupon]
    history = client.get(URL, {"tab": "history"})
    assert {w.coupon for w in history.context["wallet"].coupons} == {used, overdue}
    html = history.content.decode()
    assert "Overdue one" in html and "Expired" in html
    assert "Someone else" not in client.get(URL).content.decode()
    # An unknown tab falls back to the platform tab, never an error.
    assert client.get(URL, {"tab": "<script>"}).context["wallet"].tab == "platform"


def test_expiry_badges_and_effective_discount():
    member = UserFactory()
    now = timezone.now()
    CouponFactory(owner=member, value=D("5.00"), min_spend=D("20.00"), expires_at=now + timedelta(days=10))
    CouponFactory(owner=member, value=D("4.00"), min_spend=D("0"), expires_at=now + timedelta(days=2, hours=1))
    CouponFactory(owner=member, value=D("3.00"), min_spend=D("9.00"), expires_at=now + timedelta(hours=5))
    wallet = wallet_for(member=member, referral_month=monthly_progress(member=member, now=now), at=now)
    badges = [(w.days_left, w.expiry_tone, w.effective_percent) for w in wallet.coupons]
    assert badges == [(1, "danger", D("33.3")), (3, "warning", None), (10, "info", D("25.0"))]


def test_rendered_badges(client):
    member = UserFactory()
    CouponFactory(owner=member, expires_at=timezone.now() + timedelta(days=2, hours=1))
    client.force_login(member)
    html = client.get(URL).content.decode()
    assert 'class="badge badge-warning">Expires in 3 days' in html
    assert "Min. spend $20.00 · effective discount 25%" in html


def test_referral_coupons_this_month_read_the_monthly_counter_in_the_region_time_zone(client):
    Region.objects.filter(is_default=True).update(time_zone="America/New_York", monthly_limit=10)
    member = UserFactory(country="ZZ")  # unlisted → default region
    MonthlyRewardCounter.objects.create(referrer=member, month=date(2026, 2, 1), count=9)
    MonthlyRewardCounter.objects.create(referrer=member, month=date(2026, 3, 1), count=2)
    # Referral coupons themselves are not what counts (a staff credit takes no slot; the counter is the authority).
    CouponFactory(owner=member, source="referral", issued_at=datetime(2026, 3, 2, tzinfo=UTC))
    CouponFactory(owner=member, source="referral", issued_at=datetime(2026, 3, 3, tzinfo=UTC))
    CouponFactory(owner=member, source="referral", issued_at=datetime(2026, 3, 4, tzinfo=UTC))
    # 2026-03-01 04:59:59 UTC is still February in New York; 05:00:00 is March.
    for at, expected in [
        (datetime(2026, 3, 1, 4, 59, 59, tzinfo=UTC), (9, 10, "2026-03-01")),
        (datetime(2026, 3, 1, 5, 0, 0, tzinfo=UTC), (2, 10, "2026-04-01")),
    ]:
        with time_machine.travel(at, tick=False):
            client.force_login(member)
            wallet = client.get(URL).context["wallet"]  # the page composes the wallet with the meter
        assert (wallet.referral_count, wallet.referral_limit, wallet.month_resets_on.isoformat()) == expected
        progress = monthly_progress(member=member, now=at)
        assert (wallet.referral_count, wallet.referral_limit, wallet.month_resets_on) == (
            progress.count,
            progress.limit,
            progress.resets_on,
        )


def test_my_coupons_and_invite_friends_show_the_same_month_count(client):
    """A staff manual credit issues a referral coupon but takes no monthly slot: neither page counts it."""
    member = UserFactory()
    client.force_login(member)
    MonthlyRewardCounter.objects.create(referrer=member, month=timezone.now().date().replace(day=1), count=1)
    CouponFactory(owner=member, source="referral")  # the reward that took the slot
    referral = ReferralFactory(
        whatsapp_3_days_ago=True, referrer=member, state="qualified", completed_at=timezone.now()
    )
    coupon = credit_manually(referral=referral, actor=UserFactory(is_staff=True), reason="Goodwill after a delay")
    assert coupon.source == "referral"
    wallet = client.get(URL).content.decode()
    invite = client.get(reverse("referrals:invite")).content.decode()
    assert "<span>Referral coupons this month</span><span>1 of 10</span>" in wallet
    assert "<span>Coupons this month</span><span>1 of 10</span>" in invite


def test_savings_calculator_sums_minimums_and_averages():
    member = UserFactory()
    CouponFactory(owner=member, value=D("5.00"), min_spend=D("20.00"))
    CouponFactory(owner=member, value=D("4.00"), min_spend=D("5.00"))
    CouponFactory(owner=member, value=D("8.00"), min_spend=D("69.00"))
    calc = wallet_for(member=member, referral_month=monthly_progress(member=member, now=timezone.now())).calculator
    assert (calc.coupon_count, calc.total_discount, calc.required_spend) == (3, D("17.00"), D("94.00"))
    assert calc.average_percent == D("18.1")
    assert savings_calculator([], currency="USD").average_percent is None


def test_calculator_picks_ignore_foreign_and_garbage_ids(client):
    member = UserFactory()
    mine = CouponFactory(owner=member, value=D("5.00"), min_spend=D("20.00"))
    CouponFactory(owner=member, value=D("4.00"), min_spend=D("5.00"))
    foreign = CouponFactory(value=D("50.00"), min_spend=D("60.00"))
    client.force_login(member)
    response = client.get(URL, {"pick": [str(mine.pk), str(foreign.pk), "abc"]})
    assert response.status_code == 200
    calc = response.context["wallet"].calculator
    assert (calc.coupon_count, calc.total_discount, calc.required_spend, calc.average_percent) == (
        1,
        D("5.00"),
        D("20.00"),
        D("25.0"),
    )


def test_coins_balance_shown(client):
    member = UserFactory(coins=1250)
    client.force_login(member)
    html = client.get(URL).content.decode()
    assert "1,250" in html and "$12.50" in html


@pytest.mark.parametrize("tab", ["platform", "store", "history"])
def test_query_count_is_constant(client, django_assert_max_num_queries, make_store, tab):
    member = UserFactory()
    store = make_store()
    for i in range(40):
        CouponFactory(owner=member, kind=["platform", "select", "store"][i % 3], store=store if i % 3 == 2 else None)
        CouponFactory(owner=member, status="used")
    client.force_login(member)
    # 9: session, user, region, usable coupons, history, history count, referral count, pending welcome note, and
    # the header bell's unread count (then kept in the cache for a while).
    with django_assert_max_num_queries(9):
        response = client.get(URL, {"tab": tab})
    assert response.status_code == 200
