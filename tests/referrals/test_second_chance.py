"""A fair second chance (docs/program-rules.md section 2): a medium-signal review opened at sign-up closes by
itself when the friend verifies a phone number of the account's country that no other account has used."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.devices import record_sighting
from accounts.models import PhoneVerification
from coupons.models import Coupon
from flows.phone import SECOND_CHANCE_ACTION, second_chance
from flows.signup import register_referral
from lib.client import client_info
from referrals.cookies import read_attribution
from referrals.models import Referral, ReferralEvent
from referrals.reasons import ReasonCode, ReferralState
from support.models import AuditLog
from tests.accounts.test_phone import last_code
from tests.factories import OrderFactory, ReferralCodeFactory, UserFactory
from tests.referrals.helpers import event
from tests.referrals.test_signup import new_friend, signup_request

pytestmark = pytest.mark.django_db

US_PHONE = "+14155550123"
GB_PHONE = "+442079460958"


def _held_for_location(rf, **friend_fields):
    """A US account signing up from a GB address: REGION_MISMATCH, under review."""
    code = ReferralCodeFactory(user__first_name="Maya")
    request = signup_request(rf, ip="81.2.69.142", code=code)
    return register_referral(
        friend=new_friend(request, country="US", **friend_fields),
        client=client_info(request),
        attribution=read_attribution(request),
    )


def _held_for_shared_network(rf):
    code = ReferralCodeFactory()
    request = signup_request(rf, ip="8.8.8.8", agent="Same Browser/1.0", code=code)
    record_sighting(
        client=client_info(signup_request(rf, device_id="referrer-dev", ip="8.8.8.8", agent="Same Browser/1.0")),
        kind="login",
        member=code.user,
    )
    return register_referral(
        friend=new_friend(request), client=client_info(request), attribution=read_attribution(request)
    )


def _verify_through_the_pages(client, member, phone):
    client.force_login(member)
    assert client.post(reverse("accounts:phone"), {"phone": phone}).status_code == 302
    return client.post(reverse("accounts:phone_confirm"), {"code": last_code()}, follow=True)


def test_location_review_closes_on_a_fresh_phone_of_the_accounts_country(client, rf):
    referral = _held_for_location(rf)
    assert (referral.state, referral.reason_code) == (ReferralState.UNDER_REVIEW, ReasonCode.REGION_MISMATCH)
    assert not Coupon.objects.filter(welcome_for=referral).exists()

    response = _verify_through_the_pages(client, referral.friend, US_PHONE)

    referral.refresh_from_db()
    assert referral.state == ReferralState.REGISTERED
    assert referral.reason_code == ""
    assert referral.signals["second_chance"]["signals"] == [ReasonCode.REGION_MISMATCH]
    assert Coupon.objects.filter(welcome_for=referral).count() == 4
    last = ReferralEvent.objects.filter(referral=referral).last()
    assert (last.from_state, last.to_state, last.actor_kind) == ("under_review", "registered", "member")
    audit = AuditLog.objects.get(action=SECOND_CHANCE_ACTION)
    assert (audit.actor, audit.target_id, audit.details["phone_country"]) == (None, str(referral.pk), "US")
    page = response.content.decode()
    assert response.redirect_chain[-1][0] == reverse("referrals:my_invitation")
    assert "Check complete: you verified your phone number" in page


def test_shared_network_review_closes_the_same_way(rf):
    referral = _held_for_shared_network(rf)
    assert referral.reason_code == ReasonCode.SHARED_IP_AND_AGENT
    friend = referral.friend
    friend.phone, friend.phone_verified_at = US_PHONE, timezone.now()
    friend.save()
    assert second_chance(member=friend) is not None
    referral.refresh_from_db()
    assert referral.state == ReferralState.REGISTERED


def test_a_phone_of_another_country_does_not_close_it(client, rf):
    referral = _held_for_location(rf)
    _verify_through_the_pages(client, referral.friend, GB_PHONE)
    referral.refresh_from_db()
    assert referral.state == ReferralState.UNDER_REVIEW
    assert not AuditLog.objects.filter(action=SECOND_CHANCE_ACTION).exists()


def test_a_phone_another_account_once_verified_does_not_close_it(client, rf):
    other = UserFactory()
    PhoneVerification.objects.create(
        user=other, phone=US_PHONE, code_hash="x", expires_at=timezone.now(), used_at=timezone.now()
    )
    referral = _held_for_location(rf)
    _verify_through_the_pages(client, referral.friend, US_PHONE)
    referral.refresh_from_db()
    assert referral.state == ReferralState.UNDER_REVIEW


def test_a_phone_another_account_holds_unverified_does_not_close_it(rf):
    UserFactory(phone=US_PHONE, phone_verified_at=None)
    referral = _held_for_location(rf)
    friend = referral.friend
    friend.phone, friend.phone_verified_at = US_PHONE, timezone.now()
    friend.save()
    assert second_chance(member=friend) is None
    referral.refresh_from_db()
    assert referral.state == ReferralState.UNDER_REVIEW


def test_any_other_signal_still_waits_for_staff(client, rf):
    # A disposable address as well as the location: only staff can decide.
    referral = _held_for_location(rf, email="someone@mailinator.com")
    assert set(referral.signals["medium"]) == {ReasonCode.REGION_MISMATCH, ReasonCode.DISPOSABLE_EMAIL}
    _verify_through_the_pages(client, referral.friend, US_PHONE)
    referral.refresh_from_db()
    assert referral.state == ReferralState.UNDER_REVIEW


def test_a_review_held_at_the_first_order_is_not_closed_by_a_phone(rf):
    referral = _held_for_location(rf)
    Referral.objects.filter(pk=referral.pk).update(signals={**referral.signals, "medium": []})
    referral.refresh_from_db()
    friend = referral.friend
    friend.phone, friend.phone_verified_at = US_PHONE, timezone.now()
    friend.save()
    assert second_chance(member=friend) is None


def test_friend_page_offers_the_second_chance_and_the_referrers_card_says_it_closed(client, rf):
    referral = _held_for_location(rf)
    client.force_login(referral.friend)
    page = client.get(reverse("referrals:my_invitation")).content.decode()
    assert "Finish the check yourself" in page
    assert "from United States of America" in page or "from United States" in page

    _verify_through_the_pages(client, referral.friend, US_PHONE)
    client.force_login(referral.referrer)
    card = client.get(reverse("referrals:invite")).content.decode()
    assert "Check passed: your friend verified a phone number, so the review closed by itself." in card


def test_staff_approval_still_works_and_ignores_the_phone_rule(rf, admin_user):
    from referrals.services import approve_review

    referral = _held_for_location(rf)
    approve_review(referral=referral, actor=admin_user, note="Traveller, checked.")
    referral.refresh_from_db()
    assert referral.state == ReferralState.REGISTERED
    assert referral.reason_code == ReasonCode.STAFF_APPROVED


def test_a_first_order_completed_during_the_review_is_credited_when_it_closes(rf):
    referral = _held_for_location(rf)
    order = OrderFactory(buyer=referral.friend)
    event(referral, order, "placed")
    event(referral, order, "completed")
    assert referral.state == ReferralState.UNDER_REVIEW
    friend = referral.friend
    friend.phone, friend.phone_verified_at = US_PHONE, timezone.now()
    friend.save()
    closed = second_chance(member=friend)
    referral.refresh_from_db()
    assert closed is not None and closed.to_state == ReferralState.CREDITED
    assert referral.state == ReferralState.CREDITED
    assert Coupon.objects.filter(referral=referral).count() == 1


def test_my_coupons_links_the_waiting_friend_to_their_invitation(client, rf):
    referral = _held_for_location(rf)
    client.force_login(referral.friend)
    page = client.get(reverse("coupons:wallet")).content.decode()
    assert f'<a href="{reverse("referrals:my_invitation")}">Your invitation</a>' in page
