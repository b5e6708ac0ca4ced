"""The read-only Behaviour panel on the member page and on the review page (docs/program-rules.md section 6)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.factories import ReferralCodeFactory, ReferralFactory

pytestmark = pytest.mark.django_db


def _row(html: str, row_id: str) -> str:
    match = re.search(rf'<tr id="{row_id}"[^>]*>.*?</tr>', html, re.S)
    assert match, f"{row_id} missing"
    return " ".join(match.group(0).split())


def test_the_member_page_highlights_a_burst_for_a_fraud_analyst(role_client):
    client = role_client("Fraud analyst")
    code = ReferralCodeFactory()
    start = timezone.now() - timedelta(hours=5)
    for minutes in (0, 10, 20, 30):
        ReferralFactory(code=code, registered_at=start + timedelta(minutes=minutes))

    response = client.get(reverse("admin:accounts_user_change", args=[code.user.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Behaviour (friends invited by this member)" in html
    bursts = _row(html, "behaviour-bursts")
    assert 'class="signal-warning"' in bursts and "(flagged)" in bursts
    assert "<strong>4</strong> friends signed up" in bursts
    assert "Last 24 h: 4 sign-ups; last 30 days: 4." in bursts
    assert "More than 3 in one hour" in bursts
    # The other two have no data: plain "none" states, not highlighted.
    for row_id in ("behaviour-identical", "behaviour-silent"):
        row = _row(html, row_id)
        assert "signal-warning" not in row and "none —" in row


def test_three_sign_ups_in_an_hour_are_shown_without_highlight(role_client):
    client = role_client("Fraud analyst")
    code = ReferralCodeFactory()
    start = timezone.now() - timedelta(hours=5)
    for minutes in (0, 10, 20):
        ReferralFactory(code=code, registered_at=start + timedelta(minutes=minutes))

    html = client.get(reverse("admin:accounts_user_change", args=[code.user.pk])).content.decode()
    bursts = _row(html, "behaviour-bursts")
    assert "<strong>3</strong> friends signed up" in bursts
    assert "signal-warning" not in bursts and "(flagged)" not in bursts


def test_a_member_without_friends_shows_none_states(role_client):
    client = role_client("Fraud analyst")
    code = ReferralCodeFactory()
    html = client.get(reverse("admin:accounts_user_change", args=[code.user.pk])).content.decode()
    assert "no friend signed up through this member's link in the last 30 days" in html
    assert "no friend has a first order with items yet" in html
    assert "no friend's first order completed more than 30 days ago" in html
    assert "(flagged)" not in html


def test_the_review_page_shows_the_referrers_behaviour(role_client):
    client = role_client("Fraud analyst")
    code = ReferralCodeFactory()
    start = timezone.now() - timedelta(hours=3)
    for minutes in (0, 5, 10):
        ReferralFactory(code=code, registered_at=start + timedelta(minutes=minutes))
    held = ReferralFactory(
        code=code, registered_at=start + timedelta(minutes=15), state="under_review", reason_code="REFERRER_BURST"
    )
    response = client.get(reverse("admin:referrals_referralreview_change", args=[held.pk]))
    assert response.status_code == 200
    bursts = _row(response.content.decode(), "behaviour-bursts")
    assert "(flagged)" in bursts and "<strong>4</strong> friends signed up" in bursts


def test_identical_orders_and_silent_friends_are_highlighted_with_links(role_client):
    from tests.factories import ProductFactory
    from tests.referrals.test_behaviour import with_first_order

    client = role_client("Fraud analyst")
    code = ReferralCodeFactory()
    product = ProductFactory(name="Gift card")
    now = timezone.now()
    same = []
    for _ in range(3):
        referral = ReferralFactory(code=code, registered_at=now - timedelta(days=60))
        with_first_order(referral, placed_at=now - timedelta(days=40), lines=[(product, 2)], total="40.00")
        same.append(referral)

    html = client.get(reverse("admin:accounts_user_change", args=[code.user.pk])).content.decode()
    identical = _row(html, "behaviour-identical")
    assert 'class="signal-warning"' in identical and "(flagged)" in identical
    assert "3 friends bought exactly the same (2 × Gift card; total 40.00 USD)" in identical
    for referral in same:
        assert reverse("admin:referrals_referral_change", args=[referral.pk]) in identical
    silent = _row(html, "behaviour-silent")
    assert 'class="signal-warning"' in silent and "<strong>3</strong> of 3 friends (100%)" in silent
