"""One number, one definition (docs/program-rules.md section 9): Invite Friends, My Coupons, the staff dashboard and
the member's admin page show the same month's count, earnings and coupons earned for the same member."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from referrals.reasons import ReferralState
from referrals.services import credit_referral
from tests.factories import OrderFactory, ReferralFactory, UserFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)


def credited(referrer, at: datetime) -> None:
    """A friend's first order completed at `at` and the referrer credited then, through the crediting service."""
    with time_machine.travel(at, tick=False):
        referral = ReferralFactory(
            referrer=referrer, state=ReferralState.QUALIFIED, completed_at=at, credit_due_at=at, channel="whatsapp"
        )
        referral.first_order = OrderFactory(buyer=referral.friend, completed_at=at, state="completed")
        referral.save(update_fields=["first_order"])
        assert credit_referral(referral_id=referral.pk) == ReferralState.CREDITED


def text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_every_page_reads_the_same_figures_for_the_same_member():
    member = UserFactory(phone_verified=True)
    credited(member, datetime(2026, 11, 20, 12, 0, tzinfo=UTC))  # last month: earned, not this month
    credited(member, NOW - timedelta(days=3))
    credited(member, NOW - timedelta(days=1))
    ReferralFactory(referrer=member, state=ReferralState.REGISTERED)
    staff = UserFactory(is_staff=True, is_superuser=True)

    with time_machine.travel(NOW, tick=False):
        me, office = Client(), Client()
        me.force_login(member)
        office.force_login(staff)
        invite = text(me.get(reverse("referrals:invite")).content.decode())
        wallet = text(me.get(reverse("coupons:wallet")).content.decode())
        dashboard = office.get(reverse("staff_dashboard"))
        admin_page = office.get(reverse("admin:accounts_user_change", args=[member.pk]))

    # This month's credited count: the meter on both member pages, the dashboard's month.
    assert "Coupons this month 2 of 10" in invite
    assert "Referral coupons this month 2 of 10" in wallet
    assert dashboard.status_code == 200
    counted = dashboard.content.decode().split('id="staff-month-counted"', 1)[1].split("</div>", 1)[0]
    assert '<p class="staff-figure">2</p>' in counted and "December 2026" in counted
    assert "2 reward coupons issued in December 2026" in text(dashboard.content.decode())
    # Earnings and coupons earned: one query, two tiles that always agree ($5 each, 3 coupons).
    assert "$15.00 Earned so far" in invite
    assert "3 Coupons earned" in invite
    assert "Credited 3" in invite  # the friends' tab
    # The funnel's coupons column adds up to the same three, and its rows add up (opens = no sign-up + sign-ups).
    assert "All channels 4 0 4 3 3" in invite
    # The member's admin page: the same meter, earnings with coupons earned, and funnel.
    assert admin_page.status_code == 200
    page = admin_page.content.decode()

    def field(name: str) -> str:
        return text(page.split(f'id="{name}">', 1)[1].split("</dd>", 1)[0]).strip()

    assert field("member-meter").startswith("2 of 10 referral coupons")
    assert field("member-earnings") == "$15.00 · 3 coupons"
    assert field("member-funnel") == "4 → 4 → 3 → 3"
