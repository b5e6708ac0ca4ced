"""My Coupons in a real browser: tabs, badges, referral count, coins and the savings calculator."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from orders.models import Store
from referrals.models import MonthlyRewardCounter
from tests.factories import CouponFactory, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
D = Decimal


@pytest.fixture
def member_with_coupons():
    member = UserFactory(first_name="Maya", coins=1250)
    now = timezone.now()
    store = Store.objects.create(name="Bolt Bikes", slug="bolt-bikes-e2e")
    CouponFactory(
        owner=member,
        source="welcome",
        title="Welcome: $4 off $5",
        value=D("4.00"),
        min_spend=D("5.00"),
        issued_at=now - timedelta(days=28),
    )
    CouponFactory(owner=member, source="referral", title="Referral reward", value=D("5.00"), min_spend=D("20.00"))
    # The monthly slot that reward took: "Referral coupons this month" reads the counter, as Invite Friends does.
    MonthlyRewardCounter.objects.create(referrer=member, month=now.date().replace(day=1), count=1)
    CouponFactory(owner=member, source="event", title="Spring Sale", value=D("10.00"), min_spend=D("60.00"))
    CouponFactory(owner=member, kind="select", source="event", title="Select: Home", value=D("3.00"))
    CouponFactory(owner=member, kind="store", source="store", store=store, title="Bolt Bikes: $3 off $20", value=D("3"))
    CouponFactory(owner=member, title="Old welcome", status="used", used_at=now - timedelta(days=1))
    CouponFactory(
        owner=member, title="Winter Sale", issued_at=now - timedelta(days=40), status="expired", value=D("6.00")
    )
    return member


def test_wallet_tabs_calculator_and_small_screen(page, login, live_server, member_with_coupons, screenshot):
    login(page, member_with_coupons)
    page.goto("/coupons/")
    assert page.locator("h1").inner_text() == "My Coupons"
    main = page.locator("main")
    # Platform tab: soonest expiry first (the welcome coupon issued 28 days ago), with a warning badge.
    titles = main.locator(".coupon-list .coupon-title").all_inner_texts()
    assert titles[0] == "Welcome: $4 off $5"
    assert set(titles) == {"Referral reward", "Welcome: $4 off $5", "Spring Sale", "Select: Home"}
    warning = main.locator(".coupon-list .badge-warning").first
    assert warning.inner_text() == "Expires in 2 days"
    assert "Min. spend $20.00 · effective discount 25%" in main.inner_text()
    assert "1 of 10" in main.locator(".meter").inner_text()
    assert "1,250" in main.locator(".stat-grid").first.inner_text()
    screenshot(page, "wallet-platform")

    page.get_by_role("link", name="Store 1").click()
    page.wait_for_url("**/coupons/?tab=store")
    assert main.locator(".coupon-list .coupon-title").all_inner_texts() == ["Bolt Bikes: $3 off $20"]
    assert "Only for items from Bolt Bikes" in main.inner_text()

    page.get_by_role("link", name="Used & expired 2").click()
    page.wait_for_url("**/coupons/?tab=history")
    history = main.locator(".coupon-list").inner_text()
    assert "Old welcome" in history and "Used" in history
    assert "Winter Sale" in history and "Expired" in history
    screenshot(page, "wallet-history")

    # Calculator: untick all but the Spring Sale coupon and recalculate.
    calculator = page.locator("section", has=page.get_by_role("heading", name="Savings calculator"))
    assert calculator.is_visible()
    for box in calculator.locator("input[type=checkbox]").all():
        box.uncheck()
    calculator.get_by_label("Spring Sale").check()
    calculator.get_by_role("button", name="Calculate").click()
    stats = calculator.locator(".stat-grid").inner_text()
    assert "Coupons" in stats and "$10.00" in stats and "$60.00" in stats and "16.7%" in stats

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/coupons/")
    assert page.locator(".coupon-list .coupon").first.is_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"page scrolls sideways at 390px ({width}px)"
    screenshot(page, "wallet-390")


def test_wallet_needs_login(page, live_server):
    page.goto("/coupons/")
    assert "/accounts/login/" in page.url
