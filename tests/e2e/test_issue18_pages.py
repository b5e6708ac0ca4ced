"""Issue 18's member pages in a real browser: a store page with "Get coupons" (follow, collect, then the coupon at
checkout) and the next milestone on Invite Friends; 1280 and 390 px, no sideways scrolling."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import override_settings
from django.utils import timezone
from playwright.sync_api import expect

from coupons.models import Coupon, StoreOfferAudience
from referrals.models import QuarterCreditCounter
from referrals.program import program_quarter
from tests.factories import MilestoneTierFactory, ProductFactory, StoreFactory, StoreOfferFactory, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
D = Decimal
DESKTOP, PHONE = {"width": 1280, "height": 900}, {"width": 390, "height": 844}


@pytest.fixture
def shoot(screenshot):
    def take(page, name: str) -> None:
        page.set_viewport_size(DESKTOP)
        screenshot(page, f"{name}-1280")
        page.set_viewport_size(PHONE)
        width = page.evaluate("document.documentElement.scrollWidth")
        screenshot(page, f"{name}-390")
        page.set_viewport_size(DESKTOP)
        assert width <= PHONE["width"], f"{name}: the page scrolls sideways at 390px ({width}px)"

    return take


def test_follow_a_store_collect_its_coupons_and_use_one_at_checkout(page, login, shoot, axe_check):
    member = UserFactory(first_name="Maya")
    store = StoreFactory(name="Northwind Outfitters", slug="northwind-e2e")
    ProductFactory(store=store, name="Trail running shoes", price=D("100.00"), sale_price=D("70.00"))
    ProductFactory(store=store, name="Merino wool socks", price=D("18.00"))
    StoreOfferFactory(store=store, value=D("3.00"), min_spend=D("20.00"), total_limit=500)
    StoreOfferFactory(
        store=store, audience=StoreOfferAudience.FIRST_BUYERS, value=D("5.00"), min_spend=D("30.00"), total_limit=200
    )
    login(page, member)
    page.goto("/shop/stores/northwind-e2e/")
    assert page.locator("h1").inner_text() == "Northwind Outfitters"
    coupons = page.locator(".store-coupons")
    assert "Follow the store to collect this coupon." in coupons.inner_text()
    shoot(page, "store-get-coupons")
    axe_check(page, "store-get-coupons")
    # Each button posts a form: wait for the page it answers with before reading it.
    with page.expect_navigation():
        page.get_by_role("button", name="Follow store").click()
    expect(page.locator("body")).to_contain_text("You now follow Northwind Outfitters.")
    for _ in range(2):
        with page.expect_navigation():
            page.locator(".store-coupons").get_by_role("button", name="Collect").first.click()
        expect(page.locator("body")).to_contain_text("now in My Coupons")
    assert coupons.locator(".badge-success").count() == 2
    assert page.get_by_role("button", name="Unfollow").is_visible()
    shoot(page, "store-coupons-collected")
    axe_check(page, "store-coupons-collected")
    assert Coupon.objects.filter(owner=member, kind="store").count() == 2
    # The bigger store coupon applies at checkout (one per store), on the store's subtotal.
    page.locator("article.product", has_text="Trail running shoes").get_by_role("button").click()
    page.goto("/shop/checkout/")
    text = page.locator("main").inner_text()
    assert "$65.00" in text  # $70 sale price − $5 store coupon
    shoot(page, "store-coupon-at-checkout")


def test_invite_friends_shows_the_next_milestone(page, login, shoot, axe_check):
    member = UserFactory(first_name="Rosa", phone_verified=True)
    MilestoneTierFactory(friends=3, value=D("10.00"), min_spend=D("30.00"))
    MilestoneTierFactory(friends=6, value=D("25.00"), min_spend=D("60.00"))
    QuarterCreditCounter.objects.create(
        referrer=member, quarter=program_quarter(at=timezone.now(), time_zone="UTC"), count=2
    )
    login(page, member)
    page.goto("/invite/")
    block = page.locator(".milestone")
    assert "Quarter milestone" in block.inner_text()
    assert "a $10.00 bonus coupon when 3 friends are credited this quarter" in block.inner_text()
    assert "1 more to go." in block.inner_text()
    shoot(page, "invite-next-milestone")
    axe_check(page, "invite-next-milestone")


def test_a_program_manager_reads_the_delivery_log_and_resends(page, login, screenshot, receiver_url):
    from importlib import import_module

    from django.apps import apps
    from django.contrib.auth.models import Group

    from outbound import services
    from outbound.models import Delivery, DeliveryStatus, Endpoint
    from referrals.services import record_start
    from support.models import AuditLog
    from tests.factories import ReferralFactory

    import_module("support.migrations.0002_staff_roles").create_staff_roles(apps)
    import_module("outbound.migrations.0002_program_manager_permissions").grant(apps, None)
    manager = UserFactory(email="pam.manager@example.com", is_staff=True)
    manager.groups.add(Group.objects.get(name="Program manager"))
    Endpoint.objects.create(name="Partner CRM", url=receiver_url, secret=services.new_secret())
    record_start(referral=ReferralFactory())
    services.fan_out()
    with override_settings(OUTBOUND_EVENTS_MAX_ATTEMPTS=1):
        services.deliver_due(budget_seconds=5)  # the receiver is down: given up after one attempt
    delivery = Delivery.objects.get()
    assert delivery.status == DeliveryStatus.FAILED
    login(page, manager)
    page.goto("/admin/outbound/delivery/")
    assert "Failed (gave up)" in page.locator("#result_list").inner_text()
    screenshot(page, "staff-outbound-delivery-log-1280")
    page.goto(f"/admin/outbound/delivery/{delivery.pk}/change/")
    assert "referral.joined" in page.locator("main, #content").first.inner_text()
    assert "Connection refused" in page.locator("#content").inner_text()  # the attempt log
    screenshot(page, "staff-outbound-delivery-1280")
    page.goto("/admin/outbound/delivery/")
    page.locator(f"input[name=_selected_action][value='{delivery.pk}']").check()
    page.locator("select[name=action]").select_option("resend")
    page.locator("button[name=index], input[name=index], .actions button").first.click()
    page.get_by_label("Reason").fill("Partner fixed their certificate")
    with page.expect_navigation():  # the page the POST answers with, not the form still unloading
        page.get_by_role("button", name="Re-send").click()
    expect(page.locator("body")).to_contain_text("scheduled to be sent again")
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.PENDING
    assert AuditLog.objects.get(action="outbound.resend").reason == "Partner fixed their certificate"


@pytest.fixture
def receiver_url() -> str:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/down"
