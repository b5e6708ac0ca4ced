"""Issue 20: Invite Friends and My Coupons are rendered from the data as it is, on every request.

The pages used to keep their rendered content for a minute under a "version" query that had to list every field
they showed: a field nobody added to it went stale silently. Now nothing member-specific is cached, so whatever
changes, by whatever path (here: raw queryset updates that no service, signal or version query knows about, as a
new field written by new code would be), shows on the very next request, with the settings' defaults.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.conf import settings
from django.test import Client
from django.urls import reverse

from accounts.models import Region, User
from coupons.models import Coupon, CouponStatus
from referrals.models import Referral
from tests.factories import CouponFactory, UserFactory
from tests.test_numbers_agree import NOW, credited, text

pytestmark = pytest.mark.django_db


def _pages(member: User) -> tuple[str, str]:
    client = Client()
    client.force_login(member)
    with time_machine.travel(NOW, tick=False):
        invite = text(client.get(reverse("referrals:invite")).content.decode())
        wallet = text(client.get(reverse("coupons:wallet")).content.decode())
    return invite, wallet


def test_no_member_page_cache_is_configured():
    for name in ("INVITE_PAGE_CACHE_SECONDS", "WALLET_PAGE_CACHE_SECONDS"):
        assert not hasattr(settings, name), f"{name}: a page cache is back; see this module's docstring"


def test_any_change_shows_on_the_next_request_whatever_wrote_it():
    member = UserFactory(phone_verified=True, country="US")
    credited(member, NOW - timedelta(days=1))
    referral = Referral.objects.get(referrer=member)
    coupon = CouponFactory(
        owner=member, value=Decimal("4.00"), min_spend=Decimal("20.00"), expires_at=NOW + timedelta(days=9)
    )
    invite, wallet = _pages(member)  # first visits: what a cache would have kept
    assert "$5.00 Earned so far" in invite
    assert "Min. spend $20.00" in wallet

    # Written behind every service's back: no signal, no version, no stamp.
    User.objects.filter(pk=referral.friend_id).update(first_name="Zebulon", last_name="Quill")
    Coupon.objects.filter(pk=coupon.pk).update(min_spend=Decimal("27.00"))
    Coupon.objects.filter(referral=referral).update(value=Decimal("6.00"))
    Region.objects.filter(country="US").update(monthly_limit=7)

    invite, wallet = _pages(member)
    assert "Ze**** Q." in invite  # the friend's card (masked name)
    assert "$6.00 Earned so far" in invite
    assert "1 of 7" in invite  # the month's meter under the region's new limit
    assert "Min. spend $27.00" in wallet
    assert "Referral coupons this month 1 of 7" in wallet

    Coupon.objects.filter(pk=coupon.pk).update(status=CouponStatus.USED)
    _invite, wallet = _pages(member)
    assert "Min. spend $27.00" not in wallet.split("Savings calculator")[0]  # gone from the usable list at once
