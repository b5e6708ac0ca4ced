"""Terms frozen per invitation (docs/program-rules.md section 7, "Terms frozen"): the region changes between
the friend's sign-up and the reward, and the referral keeps the terms it was promised."""

from __future__ import annotations

import importlib
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.apps import apps
from django.urls import reverse
from django.utils import timezone

from accounts.models import Region
from coupons.models import Coupon
from flows.signup import register_referral
from lib.client import client_info
from referrals.cookies import read_attribution
from referrals.models import MonthlyRewardCounter, Referral
from referrals.reasons import ReasonCode, ReferralState
from referrals.services import approve_review, credit_referral
from referrals.terms import referral_terms, reward_terms
from tests.factories import OrderFactory, ReferralCodeFactory, ReferralFactory, UserFactory
from tests.referrals.helpers import event
from tests.referrals.test_signup import new_friend, signup_request

pytestmark = pytest.mark.django_db


def _signed_up(rf, *, email="friend@example.com"):
    code = ReferralCodeFactory()
    request = signup_request(rf, code=code)
    return register_referral(
        friend=new_friend(request, email=email), client=client_info(request), attribution=read_attribution(request)
    )


def _change_usd_region(**fields):
    Region.objects.filter(country="US").update(**fields)


def _complete_first_order(referral):
    order = OrderFactory(buyer=referral.friend)
    event(referral, order, "placed")
    event(referral, order, "completed")
    return order


def test_sign_up_freezes_the_terms_in_force(rf):
    referral = _signed_up(rf)
    terms = referral.terms
    assert terms["version"] == 1
    assert terms["referrer"] == {
        "country": "US",
        "currency": "USD",
        "reward_amount": "5.00",
        "reward_min_spend": "20.00",
        "coupon_valid_days": 30,
        "monthly_limit": 10,
        "time_zone": "UTC",
    }
    assert terms["friend"]["welcome_package"] == [
        {"value": "4.00", "min_spend": "5.00"},
        {"value": "5.00", "min_spend": "25.00"},
        {"value": "7.00", "min_spend": "49.00"},
        {"value": "8.00", "min_spend": "69.00"},
    ]
    assert referral_terms(referral).frozen is True


def test_region_changed_after_sign_up_credits_the_promised_reward(rf):
    referral = _signed_up(rf)
    _change_usd_region(reward_amount=Decimal("2.00"), reward_min_spend=Decimal("50.00"), coupon_valid_days=7)
    _complete_first_order(referral)
    assert credit_referral(referral_id=referral.pk) == ReferralState.CREDITED
    coupon = Coupon.objects.get(referral=referral)
    assert (coupon.value, coupon.min_spend, coupon.currency) == (Decimal("5.00"), Decimal("20.00"), "USD")
    assert coupon.expires_at - coupon.issued_at == timedelta(days=30)


def test_a_friend_who_joins_after_the_change_gets_the_new_terms(rf):
    _change_usd_region(reward_amount=Decimal("2.00"))
    referral = _signed_up(rf)
    _complete_first_order(referral)
    credit_referral(referral_id=referral.pk)
    assert Coupon.objects.get(referral=referral).value == Decimal("2.00")


@time_machine.travel(datetime(2026, 11, 10, 12, tzinfo=UTC), tick=False)
def test_a_lower_monthly_limit_set_later_does_not_cap_a_referral_promised_the_old_one(rf):
    referral = _signed_up(rf)
    _change_usd_region(monthly_limit=3)
    MonthlyRewardCounter.objects.create(referrer=referral.referrer, month=date(2026, 11, 1), count=5)
    _complete_first_order(referral)
    assert credit_referral(referral_id=referral.pk) == ReferralState.CREDITED  # the 6th of 10, not of 3


def test_the_frozen_time_zone_decides_the_month(rf):
    with time_machine.travel(datetime(2026, 11, 20, 12, tzinfo=UTC), tick=False):
        referral = _signed_up(rf)
        # Moved to a zone where 30 Nov 23:30 UTC is already December.
        _change_usd_region(time_zone="Asia/Tokyo")
    with time_machine.travel(datetime(2026, 11, 30, 23, 30, tzinfo=UTC), tick=False):
        _complete_first_order(referral)
        credit_referral(referral_id=referral.pk)
    counter = MonthlyRewardCounter.objects.get(referrer=referral.referrer)
    assert counter.month == date(2026, 11, 1)
    assert reward_terms(referral).time_zone == "UTC"


def test_welcome_package_after_a_review_is_the_one_promised_at_sign_up(rf, admin_user):
    referral = _signed_up(rf, email="someone@mailinator.com")  # a disposable address: held for review
    assert referral.state == ReferralState.UNDER_REVIEW
    _change_usd_region(welcome_package=[{"value": "1.00", "min_spend": "10.00"}])
    approve_review(referral=referral, actor=admin_user, note="Checked by hand.")
    values = sorted(Coupon.objects.filter(welcome_for=referral).values_list("value", flat=True))
    assert values == [Decimal("4.00"), Decimal("5.00"), Decimal("7.00"), Decimal("8.00")]


def test_referrers_card_shows_your_terms_after_the_region_changed(client, rf):
    referral = _signed_up(rf)
    _change_usd_region(reward_amount=Decimal("2.00"), monthly_limit=3)
    client.force_login(referral.referrer)
    page = client.get(reverse("referrals:invite")).content.decode()
    assert (
        "Your terms: a $5.00 coupon (min. spend $20.00, valid 30 days), up to 10 a month, as when your friend joined."
        in page
    )


def test_friend_page_shows_the_welcome_package_promised(client, rf):
    referral = _signed_up(rf)
    _change_usd_region(welcome_package=[{"value": "1.00", "min_spend": "10.00"}])
    client.force_login(referral.friend)
    page = client.get(reverse("referrals:my_invitation")).content.decode()
    assert "Your terms" in page
    assert "$8.00" in page and "$69.00" in page
    assert "$1.00" not in page


def test_staff_see_the_snapshot_in_the_admin(admin_client, rf):
    referral = _signed_up(rf)
    _change_usd_region(reward_amount=Decimal("2.00"))
    page = admin_client.get(reverse("admin:referrals_referral_change", args=[referral.pk])).content.decode()
    assert "Terms promised at sign-up" in page
    assert "$5.00" in page


def test_migration_freezes_existing_referrals_with_their_regions_terms():
    Region.objects.create(country="GB", name="United Kingdom", currency="GBP", reward_amount=Decimal("4.00"))
    referral = ReferralFactory(referrer=UserFactory(country="GB"), terms={})
    untouched = ReferralFactory(terms={"version": 1, "kept": True})
    migration = importlib.import_module("referrals.migrations.0008_referral_terms")
    migration.freeze_existing_terms(apps, None)
    referral.refresh_from_db()
    assert referral.terms["referrer"]["currency"] == "GBP"
    assert referral.terms["referrer"]["reward_amount"] == "4.00"
    assert referral.terms["friend"]["country"] == "US"
    untouched.refresh_from_db()
    assert untouched.terms == {"version": 1, "kept": True}


def test_a_referral_without_snapshot_reads_todays_region_and_says_so():
    referral = ReferralFactory(terms={})
    _change_usd_region(reward_amount=Decimal("3.00"))
    terms = referral_terms(Referral.objects.get(pk=referral.pk))
    assert terms.frozen is False
    assert terms.reward.reward_amount == Decimal("3.00")


def test_capped_reason_is_unchanged_by_frozen_terms(rf):
    referral = _signed_up(rf)
    month = timezone.now().astimezone(UTC).date().replace(day=1)
    MonthlyRewardCounter.objects.create(referrer=referral.referrer, month=month, count=10)
    _change_usd_region(monthly_limit=20)
    _complete_first_order(referral)
    assert credit_referral(referral_id=referral.pk) == ReferralState.CAPPED
    referral.refresh_from_db()
    assert referral.reason_code == ReasonCode.MONTHLY_LIMIT


def test_landing_page_says_the_package_becomes_the_friends_terms(client):
    code = ReferralCodeFactory()
    client.get(reverse("referrals:click", args=[code.code]))
    page = client.get(reverse("referrals:landing")).content.decode()
    assert "These become your terms when you join: later changes to the program do not change them." in page
