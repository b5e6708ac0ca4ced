"""A fraud analyst's day in the Django admin, in a real browser.

Logs in through the admin login form, reads the support console, the staff dashboard (a review
undecided for over 24 h is an alert), the review queue with the stored signals, a referral's trace
and a member's page, then approves the review with a reason: the friend gets the welcome package and
the decision is in the audit log.
"""

from __future__ import annotations

import re
from datetime import timedelta
from importlib import import_module

import pytest
from django.apps import apps
from django.contrib.auth.models import Group
from django.core import mail
from django.utils import timezone
from playwright.sync_api import expect

from coupons.models import Coupon
from coupons.services import issue_coupon
from referrals.models import Referral
from referrals.selectors import meter
from referrals.services import record_start
from support.models import AuditLog
from tests.factories import CouponFactory, ReferralCodeFactory, ReferralFactory, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "pass-for-tests-123"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
SIGNALS = {
    "strong": [],
    "medium": ["SHARED_IP_AND_AGENT"],
    "weak": ["SHARED_IP"],
    "checks": {
        "same_device_as_referrer": False,
        "same_phone_as_referrer": False,
        "same_card_as_referrer": False,
        "same_email_as_referrer": False,
        "disposable_email": False,
    },
}


@pytest.fixture
def analyst():
    import_module("support.migrations.0002_staff_roles").create_staff_roles(apps)
    user = UserFactory(email="ana.fraud@example.com", first_name="Ana", is_staff=True)
    user.groups.add(Group.objects.get(name="Fraud analyst"))
    return user


@pytest.fixture
def world():
    """A referrer with one credited friend (reward issued) and one friend waiting in review for 26 hours."""
    referrer = UserFactory(phone_verified=True, first_name="Rosa", last_name="Martinez", email="rosa@example.com")
    code = ReferralCodeFactory(user=referrer, code="ROSA7K2M")
    now = timezone.now()
    credited = ReferralFactory(
        code=code,
        friend=UserFactory(first_name="Sam", last_name="Okafor", email="sam.okafor@example.net"),
        state="credited",
        channel="whatsapp",
        registered_at=now - timedelta(days=3),
        completed_at=now - timedelta(days=1),
        credited_at=now - timedelta(days=1),
        decided_at=now - timedelta(days=1),
    )
    record_start(referral=credited, note="Joined via WhatsApp")
    issue_coupon(
        member=referrer,
        source="referral",
        referral=credited,
        value="5.00",
        min_spend="20.00",
        title="Referral reward",
        idempotency_key=f"e2e-reward:{credited.pk}",
        reason="Referral reward",
    )
    review = ReferralFactory(
        code=code,
        friend=UserFactory(first_name="Theo", last_name="Lind", email="theo.lind@example.org"),
        state="under_review",
        reason_code="SHARED_IP_AND_AGENT",
        signals=SIGNALS,
        channel="copy",
        registered_at=now - timedelta(hours=26),
        review_requested_at=now - timedelta(hours=26),
    )
    record_start(referral=review, note="Joined via Copied link")
    return {"referrer": referrer, "credited": credited, "review": review}


def shoot(page, screenshot, name: str, *, phone: bool = False) -> None:
    screenshot(page, f"{name}-1280")
    if phone:
        page.set_viewport_size(PHONE)
        width = page.evaluate("document.documentElement.scrollWidth")
        screenshot(page, f"{name}-390")
        page.set_viewport_size(DESKTOP)
        assert width <= PHONE["width"], f"{name}: the page scrolls sideways at 390px ({width}px)"


def test_fraud_analyst_reads_the_dashboard_and_decides_a_review(
    page, live_server, analyst, world, screenshot, axe_check
):
    review = world["review"]

    # The admin login form (not a forced session).
    page.goto("/admin/")
    page.wait_for_url("**/admin/login/**")
    axe_check(page, "staff-login")
    page.get_by_label("E-mail address").fill("ana.fraud@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/admin/")
    console = page.locator(".staff-console")
    assert "Support console" in console.inner_text()
    shoot(page, screenshot, "staff-01-admin-index")

    # Dashboard: the 26-hour-old review is an alert; the credited referral's coupon is this month's cost.
    console.get_by_role("link", name="Staff dashboard").click()
    page.wait_for_url("**/admin/dashboard/")
    stale = page.locator(".staff-card", has_text="Reviews undecided over 24 h")
    assert "staff-card-alert" in stale.get_attribute("class")
    assert stale.locator(".staff-figure").inner_text() == "1"
    cost = page.locator(".staff-card", has_text="Reward cost this month")
    assert cost.locator(".staff-figure").inner_text() == "$5.00"
    assert "0 used of 1 issued" in page.locator(".staff-card", has_text="redemption").inner_text()
    # The month's count is the member's meter (the world's reward was issued outside crediting: no slot used).
    counted = meter.monthly_progress(member=world["referrer"], now=timezone.now()).count
    assert page.locator("#staff-month-counted .staff-figure").inner_text() == str(counted)
    outcomes = page.locator(".module", has_text="Outcomes, last 14 days").locator("tbody td")
    assert outcomes.all_inner_texts() == ["1", "0", "0", "0"]  # credited, capped, voided, rejected
    shoot(page, screenshot, "staff-02-dashboard", phone=True)

    # The review queue: the referral, its reason code, how long it has waited.
    stale.get_by_role("link", name="Open the review queue").click()
    page.wait_for_url("**/admin/referrals/referralreview/")
    row = page.locator("#result_list tbody tr")
    assert row.count() == 1
    text = row.inner_text()
    assert "SHARED_IP_AND_AGENT" in text and "over 24 h" in text
    # The staff stylesheet is on admin change lists too: the overdue wait stands out in red.
    color = "el => getComputedStyle(el).color"
    assert row.locator(".staff-overdue").evaluate(color) != row.locator("td.field-referrer").evaluate(color)
    # The queue fits 1280 px: every column, Waiting and Signals included, is inside the window and nothing in the
    # table is cut off.
    for column in ("waiting", "medium_signals"):
        box = page.locator(f"#result_list th.column-{column}").bounding_box()
        assert box and box["x"] + box["width"] <= DESKTOP["width"], (column, box)
    assert "SHARED_IP_AND_AGENT" in row.locator("td.field-medium_signals").inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= DESKTOP["width"]
    shoot(page, screenshot, "staff-03-review-queue", phone=True)

    # The referral's trace: signals and timeline.
    row.get_by_role("link", name=str(review.pk), exact=True).click()
    page.wait_for_url(f"**/admin/referrals/referralreview/{review.pk}/change/")
    body = page.locator("#content").inner_text()
    assert "SHARED_IP_AND_AGENT" in body and "Under review" in body
    medium = page.locator(".signals-table tr", has_text="SHARED_IP_AND_AGENT")
    assert medium.locator("td").evaluate("el => getComputedStyle(el).fontWeight") == "600"  # staff.css: a warning
    shoot(page, screenshot, "staff-04-review-detail")

    # A member's page, found by search from the console.
    page.goto("/admin/")
    page.locator(".staff-console").get_by_role("link", name="Find a member").click()
    page.locator("#searchbar").fill("rosa@example.com")
    page.get_by_role("button", name="Search").click()
    page.wait_for_url("**/admin/accounts/user/?q=*")
    expect(page.locator("#result_list tbody tr")).to_have_count(1)
    page.locator("#result_list").get_by_role("link", name="rosa@example.com").click()
    page.wait_for_url(f"**/admin/accounts/user/{world['referrer'].pk}/change/**")
    member = page.locator("#content").inner_text()
    assert "rosa@example.com" in member and "Rosa" in member
    assert "theo.lind@example.org" in member and "sam.okafor@example.net" in member  # friends invited
    assert "Referral reward" in member  # the reward coupon and its ledger row
    # A page for support work: what the member sees, their own figures, no password hash or permission pickers.
    assert "What the member sees on Invite Friends" in member
    progress = meter.monthly_progress(member=world["referrer"], now=timezone.now())
    assert page.locator("#member-meter").inner_text().startswith(f"{progress.count} of 10 referral coupons")
    assert page.locator("#member-earnings").inner_text() == "$5.00 · 1 coupon"
    assert page.locator("#id_user_permissions, #id_groups, .field-password").count() == 0
    assert "pbkdf2" not in page.content()
    shoot(page, screenshot, "staff-05-member-page", phone=True)

    # Decide on the review page itself: approve with a note (an audited action), back to the queue.
    page.goto("/admin/referrals/referralreview/")
    page.locator("#result_list").get_by_role("link", name=str(review.pk), exact=True).click()
    decision = page.locator(".staff-decision")
    expect(decision.get_by_role("heading", name="Decide this review")).to_be_visible()
    assert "SHARED_IP_AND_AGENT" in decision.inner_text()
    shoot(page, screenshot, "staff-06-review-page-decision", phone=True)
    decision.get_by_label("Note").fill("Flatmates on one Wi-Fi; different devices and cards.")
    decision.get_by_role("button", name="Approve").click()
    page.wait_for_url("**/admin/referrals/referralreview/")
    expect(page.locator(".messagelist")).to_contain_text("1 referral(s) approved.")
    assert page.locator("#result_list").count() == 0  # the queue is empty now
    shoot(page, screenshot, "staff-07-after-approval")

    review.refresh_from_db()
    assert review.state == "registered"
    assert Coupon.objects.filter(owner=review.friend, source="welcome").count() == 4
    entry = AuditLog.objects.get(action="referral.approve_review")
    assert entry.actor_id == analyst.pk and "Flatmates" in entry.reason
    assert Referral.objects.get(pk=world["credited"].pk).state == "credited"


def test_staff_sign_in_asks_for_an_authenticator_code(page, live_server, analyst, settings, screenshot, axe_check):
    """With STAFF_REQUIRE_2FA (production): enrol an app on the first sign-in, then a code every sign-in."""
    from base64 import b32decode

    from django_otp.oath import totp

    settings.STAFF_REQUIRE_2FA = True

    def sign_in() -> None:
        page.goto("/admin/")
        page.get_by_label("E-mail address").fill("ana.fraud@example.com")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url("**/admin/second-factor/**")

    def current_code(key: bytes, *, step: int = 0) -> str:
        return f"{totp(key, drift=step):06d}"

    console_url = re.compile(r".*/admin/$")

    sign_in()
    expect(page.get_by_role("heading", name="Set up your authenticator app")).to_be_visible()
    # A password alone shows no key: the set-up opens from the one-time link e-mailed to the staff member.
    assert page.locator(".staff-secret").count() == 0
    axe_check(page, "staff-second-factor-link-needed")
    page.get_by_role("button", name="E-mail me a set-up link").click()
    expect(page.get_by_role("status")).to_contain_text("Sent")
    link = re.search(r"https?://[^/\s]+(/admin/second-factor/enrol/[^/\s]+/)", mail.outbox[-1].body).group(1)
    page.goto(link)
    page.get_by_role("button", name="Continue to the set-up").click()
    expect(page.get_by_role("heading", name="Set up your authenticator app")).to_be_visible()
    qr = page.get_by_role("img", name="QR code that adds your Referral Portal staff account to an authenticator app")
    assert qr.evaluate("img => img.complete && img.naturalWidth > 0")  # the inline SVG renders under the CSP
    typed = page.locator(".staff-secret").inner_text().replace(" ", "")
    key = b32decode(typed + "=" * (-len(typed) % 8))
    axe_check(page, "staff-second-factor-enrol")
    shoot(page, screenshot, "staff-08-second-factor-enrol", phone=True)
    page.get_by_label("6-digit code").fill(current_code(key))
    page.get_by_role("button", name="Confirm and open the console").click()
    page.wait_for_url(console_url)
    assert "Support console" in page.locator(".staff-console").inner_text()

    # Next sign-in: only the code (the key is never shown again); a wrong one is said plainly.
    page.get_by_role("button", name="Log out").click()
    sign_in()
    expect(page.get_by_role("heading", name="Confirm it's you")).to_be_visible()
    assert page.locator(".staff-secret").count() == 0
    wrong = f"{(int(current_code(key)) + 1) % 1_000_000:06d}"
    page.get_by_label("6-digit code").fill(wrong)
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("alert")).to_contain_text("That code is not right")
    axe_check(page, "staff-second-factor-wrong-code")
    shoot(page, screenshot, "staff-09-second-factor-wrong-code", phone=True)
    page.wait_for_timeout(1100)  # one wrong code: the next try waits a second
    # Codes are single use and enrolment used this 30-second step's code: the app's next one is accepted
    # (one step of clock drift is allowed), as after a real wait.
    page.get_by_label("6-digit code").fill(current_code(key, step=1))
    page.get_by_role("button", name="Verify").click()
    page.wait_for_url(console_url)
    # The link used, the enrolment and the verification.
    assert AuditLog.objects.filter(actor=analyst, action__startswith="second factor").count() == 3


def test_the_dashboard_shows_what_the_nightly_reconciliation_found(page, live_server, analyst, world, screenshot):
    from referrals.services.reconciliation import run_reconciliation

    reward = Coupon.objects.get(referral=world["credited"])
    # The ledger is append-only: the discrepancy is a coupon written without its issuing row.
    orphan = CouponFactory(owner=reward.owner)
    run_reconciliation()
    page.goto("/admin/")
    page.wait_for_url("**/admin/login/**")
    page.get_by_label("E-mail address").fill("ana.fraud@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/admin/")
    page.goto("/admin/dashboard/")
    card = page.locator(".staff-card", has_text="Nightly reconciliation")
    assert "staff-card-alert" in card.get_attribute("class")
    assert card.locator(".staff-figure").inner_text() == "2"
    found = page.locator(".module", has_text="Reconciliation: what does not add up")
    assert "Coupon without exactly one issuing row" in found.inner_text()
    assert "Coupon ledger total differs from active coupons" in found.inner_text()
    assert f"#{orphan.pk}" in found.inner_text()
    found.scroll_into_view_if_needed()
    shoot(page, screenshot, "staff-09-reconciliation", phone=True)


def test_a_reject_on_the_review_page_needs_a_written_reason(
    page, live_server, analyst, world, screenshot, login, axe_check
):
    review = world["review"]
    login(page, analyst)
    page.goto(f"/admin/referrals/referralreview/{review.pk}/change/")
    reject = page.locator(".staff-decision-reject")
    reject.get_by_label("Reason code").select_option("SELF_REFERRAL")
    reject.get_by_role("button", name="Reject").click()
    # No reason: the same decision again with the error announced; nothing changed.
    expect(page.locator(".errornote")).to_contain_text("Please correct the error below.")
    expect(page.locator(".errors [role=alert]")).to_contain_text("This field is required")
    expect(page.locator("textarea[name=reason]")).to_be_focused()
    axe_check(page, "staff-reject-form-error")
    shoot(page, screenshot, "staff-10-reject-needs-a-reason", phone=True)
    review.refresh_from_db()
    assert review.state == "under_review"
    page.get_by_label("Reason code").select_option("SELF_REFERRAL")
    page.locator("textarea[name=reason]").fill("The friend's card is the referrer's (support case 1182).")
    page.get_by_role("button", name="Reject").click()
    page.wait_for_url("**/admin/referrals/referralreview/")
    expect(page.locator(".messagelist")).to_contain_text("1 referral(s) rejected.")
    review.refresh_from_db()
    assert (review.state, review.reason_code) == ("rejected", "SELF_REFERRAL")
    entry = AuditLog.objects.get(action="referral.reject_review")
    assert entry.actor_id == analyst.pk and "1182" in entry.reason
    shoot(page, screenshot, "staff-11-after-rejection")
