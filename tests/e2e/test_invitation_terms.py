"""Issue 18 items 1–4 in a real browser: the friend's "Your invitation" page with its frozen terms and the second
chance by phone; the referrer's card with "your terms" and the pending first order's impact; the friend's order
page warning before a cancel; staff replaying a referral and running a what-if in the admin.

Screenshots (tests/e2e/screenshots/): i18-my-invitation-review-{1280,390}, i18-phone-code-1280,
i18-my-invitation-cleared-{1280,390}, i18-invite-card-terms-{1280,390}, i18-order-cancel-impact-{1280,390},
i18-admin-replay-1280, i18-admin-what-if-add-1280, i18-admin-what-if-done-1280.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.test import RequestFactory
from playwright.sync_api import expect

from accounts.models import Region
from accounts.sms import LocmemSMSBackend
from flows.signup import register_referral
from lib.client import client_info
from referrals.cookies import read_attribution
from referrals.eligibility import decide
from referrals.models import Referral, WhatIfRun
from referrals.reasons import ReasonCode, ReferralState
from referrals.services.what_if import run_what_if
from tests.e2e.test_referral_journey import DESKTOP, PHONE
from tests.factories import OrderFactory, ReferralCodeFactory, ReferralFactory, UserFactory
from tests.referrals.helpers import event
from tests.referrals.test_eligibility import facts
from tests.referrals.test_signup import new_friend, signup_request

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def shoot(screenshot):
    def take(page, name: str, *, phone: bool = True) -> None:
        screenshot(page, f"{name}-1280")
        if phone:
            page.set_viewport_size(PHONE)
            width = page.evaluate("document.documentElement.scrollWidth")
            screenshot(page, f"{name}-390")
            page.set_viewport_size(DESKTOP)
            assert width <= PHONE["width"], f"{name}: the page scrolls sideways at 390px ({width}px)"

    return take


def _held_for_location():
    """A US account signing up from a GB address through Maya's link: under review (REGION_MISMATCH)."""
    code = ReferralCodeFactory(user__first_name="Maya", user__last_name="Lopez")
    request = signup_request(RequestFactory(), ip="81.2.69.142", code=code)
    return register_referral(
        friend=new_friend(request, country="US", first_name="Fred", last_name="Friend"),
        client=client_info(request),
        attribution=read_attribution(request),
    )


def test_friend_finishes_the_check_by_verifying_a_phone(page, login, shoot, axe_check):
    referral = _held_for_location()
    assert referral.state == ReferralState.UNDER_REVIEW
    login(page, referral.friend)
    page.goto("/invite/my-invitation/")
    expect(page.get_by_role("heading", name="Your invitation", level=1)).to_be_visible()
    expect(page.get_by_role("heading", name="Finish the check yourself")).to_be_visible()
    expect(page.get_by_role("heading", name="Your terms")).to_be_visible()
    shoot(page, "i18-my-invitation-review")
    axe_check(page, "i18-my-invitation-review")

    page.get_by_role("link", name="Verify a phone number").click()
    page.fill("input[name=phone]", "+1 415 555 0123")
    page.get_by_role("button", name="Send code").click()
    code = re.search(r"\b(\d{6})\b", LocmemSMSBackend.outbox[-1].message).group(1)
    page.fill("input[name=code]", code)
    shoot(page, "i18-phone-code", phone=False)
    page.get_by_role("button", name="Verify").click()

    page.wait_for_url("**/invite/my-invitation/")
    expect(page.locator(".second-chance-done")).to_contain_text("Check complete: you verified your phone number")
    shoot(page, "i18-my-invitation-cleared")
    axe_check(page, "i18-my-invitation-cleared")
    referral.refresh_from_db()
    assert referral.state == ReferralState.REGISTERED


def test_referrer_card_shows_your_terms_and_what_a_cancel_would_do(page, login, shoot):
    referral = ReferralFactory(
        referrer=UserFactory(first_name="Rosa", phone_verified=True),
        friend=UserFactory(first_name="Sam", last_name="Okafor"),
        channel="whatsapp",
    )
    event(referral, OrderFactory(buyer=referral.friend), "placed")
    Region.objects.filter(country="US").update(reward_amount=Decimal("2.00"))  # after sign-up: changes nothing
    login(page, referral.referrer)
    page.goto("/invite/")
    card = page.locator(f"#referral-{referral.pk}")
    expect(card.locator(".referral-terms")).to_contain_text("Your terms: a $5.00 coupon (min. spend $20.00")
    expect(card.locator(".referral-impact")).to_contain_text("your reward will not be given")
    card.scroll_into_view_if_needed()
    shoot(page, "i18-invite-card-terms")


def test_friend_reads_the_impact_before_canceling_the_first_order(page, login, shoot, axe_check):
    referral = ReferralFactory(friend=UserFactory(first_name="Sam"))
    order = OrderFactory(buyer=referral.friend, external_id="ORD-I18-1")
    event(referral, order, "placed")
    login(page, referral.friend)
    page.goto(f"/orders/{order.external_id}/")
    impact = page.locator(".invitation-impact")
    expect(impact).to_contain_text("your friend's reward will not be given")
    shoot(page, "i18-order-cancel-impact")
    axe_check(page, "i18-order-cancel-impact")

    messages = []

    def accept(dialog):
        messages.append(dialog.message)
        dialog.accept()

    page.on("dialog", accept)
    page.get_by_role("button", name="Cancel order").click()
    page.wait_for_load_state()
    expect(page.locator(".messages")).to_contain_text("Order canceled.")
    assert "your friend's reward will not be given" in messages[0]
    referral.refresh_from_db()
    assert (referral.state, referral.reason_code) == (ReferralState.VOIDED, ReasonCode.FIRST_ORDER_CANCELED)


def test_staff_replay_a_referral_and_run_a_what_if(page, login, screenshot, axe_check):
    admin = UserFactory(is_staff=True, is_superuser=True, email="pm@example.com")
    at = datetime.now(UTC) - timedelta(days=2)
    # Decided under the old rules (REGION_MISMATCH was a rejection, no version kept).
    old = decide(facts(ip_country="GB")).signals
    old = {**{k: v for k, v in old.items() if k not in ("rules", "outcome", "reason_code")}, "medium": []}
    old["strong"] = [ReasonCode.REGION_MISMATCH]
    rejected = ReferralFactory(
        state=ReferralState.REJECTED, reason_code=ReasonCode.REGION_MISMATCH, signals=old, registered_at=at
    )
    for hours in range(3):
        ReferralFactory(
            registered_at=at + timedelta(hours=hours), signals=decide(facts(device_program_accounts=3)).signals
        )
    login(page, admin)

    page.goto(f"/admin/referrals/referral/{rejected.pk}/change/")
    expect(page.locator(".staff-replay-summary")).to_contain_text("would be under_review instead of rejected")
    page.locator(".staff-replay").scroll_into_view_if_needed()
    screenshot(page, "i18-admin-replay-1280")
    axe_check(page, "i18-admin-replay")

    page.goto("/admin/referrals/whatifrun/add/")
    page.fill("input[name=date_from]", at.date().isoformat())
    page.fill("input[name=date_to]", (at + timedelta(days=1)).date().isoformat())
    page.fill("input[name=device_account_limit]", "3")
    page.fill("input[name=note]", "Device limit 3 instead of 4?")
    screenshot(page, "i18-admin-what-if-add-1280")
    page.locator("input[name=_save]").click()
    run = WhatIfRun.objects.get()
    run_what_if(run_id=run.pk)  # the worker's part (no worker runs in tests)
    page.goto(f"/admin/referrals/whatifrun/{run.pk}/change/")
    expect(page.get_by_text("Download the CSV")).to_be_visible()
    screenshot(page, "i18-admin-what-if-done-1280")
    axe_check(page, "i18-admin-what-if-done")
    run.refresh_from_db()
    assert (run.processed, run.changed) == (4, 3)
    assert Referral.objects.get(pk=rejected.pk).state == ReferralState.REJECTED
