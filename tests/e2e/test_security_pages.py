"""Issue 16 pages in a real browser: a staff member's first sign-in asks for the e-mailed set-up link (no key on
screen), and a member's order without the shop simulation offers only what a buyer does."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from playwright.sync_api import expect

from flows import orders as flows
from tests.factories import ProductFactory, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


def both_widths(page, screenshot, name: str) -> None:
    screenshot(page, f"{name}-1280")
    page.set_viewport_size(PHONE)
    width = page.evaluate("document.documentElement.scrollWidth")
    screenshot(page, f"{name}-390")
    page.set_viewport_size(DESKTOP)
    assert width <= PHONE["width"], f"{name}: scrolls sideways at 390px ({width}px)"


def test_first_staff_sign_in_goes_through_the_emailed_link(page, login, screenshot, settings):
    settings.STAFF_REQUIRE_2FA = True
    staff = UserFactory(is_staff=True, email="new.agent@example.com")
    login(page, staff)
    page.goto("/admin/")
    expect(page.get_by_role("button", name="E-mail me a set-up link")).to_be_visible()
    assert page.locator(".staff-secret").count() == 0 and page.locator(".staff-qr").count() == 0
    both_widths(page, screenshot, "staff-setup-link-needed")
    page.get_by_role("button", name="E-mail me a set-up link").click()
    expect(page.get_by_role("status")).to_contain_text("Sent")
    link = re.search(r"https?://[^/\s]+(/admin/second-factor/enrol/[^/\s]+/)", mail.outbox[-1].body).group(1)
    page.goto(link)
    both_widths(page, screenshot, "staff-setup-link-confirm")
    page.get_by_role("button", name="Continue to the set-up").click()
    expect(page.locator(".staff-secret")).to_be_visible()
    both_widths(page, screenshot, "staff-setup-after-link")


def test_an_order_without_the_shop_simulation_shows_only_the_buyers_actions(page, login, screenshot):
    member = UserFactory(first_name="Maya")
    order = flows.place_order(member=member, lines=[(ProductFactory(), 1)], card_label="Visa 4242")
    flows.pay(order=order)
    flows.ship(order=order)
    login(page, member)
    page.goto(f"/orders/{order.external_id}/")
    expect(page.get_by_role("button", name="Confirm receipt")).to_be_visible()
    assert page.get_by_text("Demo shop controls").count() == 0
    both_widths(page, screenshot, "order-shipped-no-shop-simulation")
