"""What the friend is told when staff decide a review opened at sign-up (docs/program-rules.md sections 2, 3, 9)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse

from accounts.models import Notification
from flows.signup import register_referral
from lib.client import client_info
from referrals.cookies import read_attribution
from referrals.reasons import FLAGGED_MESSAGE, ReasonCode, ReferralState
from referrals.selectors.friend import review_opened_at_signup, welcome_package_pending
from referrals.services import approve_review, reject_review
from referrals.services.notices import notify_friend_welcome_ready
from referrals.services.review import ReviewError
from tests.factories import ReferralCodeFactory, UserFactory
from tests.referrals.helpers import event, referral_with_order
from tests.referrals.test_lifecycle import T0, burst_review
from tests.referrals.test_signup import new_friend, signup_request

pytestmark = pytest.mark.django_db

FRIEND_KINDS = ("friend_welcome_ready", "friend_invitation_rejected")


def held_signup(rf):
    """A friend whose sign-up went to review (temporary e-mail address): no welcome coupons yet."""
    code = ReferralCodeFactory(user__first_name="Rosalind", user__email="rosalind@example.com")
    request = signup_request(rf, code=code)
    referral = register_referral(
        friend=new_friend(request, email="fred@mailinator.com"),
        client=client_info(request),
        attribution=read_attribution(request),
    )
    assert (referral.state, referral.reason_code) == (ReferralState.UNDER_REVIEW, ReasonCode.DISPOSABLE_EMAIL)
    return referral


def friend_notices(referral):
    return list(Notification.objects.filter(user=referral.friend, kind__in=FRIEND_KINDS))


def referrer_notices(referral):
    return sorted(Notification.objects.filter(user=referral.referrer).values_list("kind", "title", "body"))


def assert_reveals_nothing(notice, referral):
    text = f"{notice.title} {notice.body}".lower()
    for secret in (
        referral.referrer.first_name,
        referral.referrer.email,
        "mailinator",
        "temporary",
        "e-mail",
        "device",
        "network",
        "card",
        "signal",
        "same household",
        "referrer",
    ):
        assert secret.lower() not in text, secret
    for code in ReasonCode:
        assert code.value.lower() not in text


def test_approving_a_signup_review_tells_the_friend_once_that_the_welcome_coupons_are_ready(rf):
    staff = UserFactory(is_staff=True)
    referral = held_signup(rf)
    before = referrer_notices(referral)
    assert review_opened_at_signup(referral=referral)

    approve_review(referral=referral, actor=staff, note="Same household, fine")

    [notice] = friend_notices(referral)
    assert notice.kind == "friend_welcome_ready"
    assert notice.title == "Your welcome coupons are ready"
    assert "4 welcome coupons worth $24.00 in total" in notice.body
    assert notice.link == reverse("coupons:wallet")
    assert_reveals_nothing(notice, referral)
    # The referrer's notices are what they were (the approval itself tells the referrer nothing new).
    assert referrer_notices(referral) == before
    # Repeating the action (or the notice) sends nothing more.
    with pytest.raises(ReviewError, match="under review"):
        approve_review(referral=referral, actor=staff)
    notify_friend_welcome_ready(referral=referral, coupons=[])
    assert len(friend_notices(referral)) == 1
    assert not welcome_package_pending(friend=referral.friend)


@pytest.mark.parametrize(
    ("reason_code", "expected"),
    [
        (
            ReasonCode.STAFF_REJECTED,
            "Your invitation could not be applied: this invitation does not meet the program rules. "
            "Your account works as usual.",
        ),
        (
            ReasonCode.DISPOSABLE_EMAIL,
            "Your invitation could not be applied: this invitation does not meet the program rules. "
            "Your account works as usual.",
        ),
        (
            ReasonCode.SELF_REFERRAL,
            "Your invitation could not be applied: invitations are only for people who are new to the marketplace. "
            "Your account works as usual.",
        ),
        (ReasonCode.ACCOUNT_FLAGGED, FLAGGED_MESSAGE),
    ],
)
def test_rejecting_a_signup_review_tells_the_friend_once_in_friend_words(rf, reason_code, expected):
    staff = UserFactory(is_staff=True)
    referral = held_signup(rf)

    reject_review(referral=referral, actor=staff, reason_code=reason_code, note="Same household")

    [notice] = friend_notices(referral)
    assert (notice.kind, notice.body) == ("friend_invitation_rejected", expected)
    assert_reveals_nothing(notice, referral)
    # The referrer is told as before: one rejection notice in the referrer's words.
    assert Notification.objects.filter(user=referral.referrer, kind="referral_rejected").count() == 1
    with pytest.raises(ReviewError, match="under review"):
        reject_review(referral=referral, actor=staff, reason_code=reason_code, note="again")
    assert len(friend_notices(referral)) == 1
    assert not welcome_package_pending(friend=referral.friend)


def test_an_approval_that_voids_the_referral_tells_the_friend_the_invitation_could_not_be_applied():
    staff = UserFactory(is_staff=True)
    referral, order = referral_with_order(state=ReferralState.UNDER_REVIEW, reason_code=ReasonCode.IP_BURST)
    event(referral, order, "placed", T0)
    event(referral, order, "canceled", T0 + timedelta(minutes=5))
    approve_review(referral=referral, actor=staff)
    referral.refresh_from_db()
    assert referral.state == ReferralState.VOIDED
    [notice] = friend_notices(referral)
    assert notice.kind == "friend_invitation_rejected"
    assert "canceled" not in notice.body
    assert_reveals_nothing(notice, referral)


@pytest.mark.parametrize("decision", ["approve", "reject"])
def test_a_review_held_at_the_first_order_concerns_the_referrer_only(decision):
    staff = UserFactory(is_staff=True)
    referral, _order = burst_review()
    assert not review_opened_at_signup(referral=referral)
    assert not welcome_package_pending(friend=referral.friend)
    if decision == "approve":
        approve_review(referral=referral, actor=staff)
    else:
        reject_review(referral=referral, actor=staff, reason_code=ReasonCode.REFERRER_BURST, note="Sock puppets")
    assert friend_notices(referral) == []
    assert not Notification.objects.filter(user=referral.friend).exists()


def test_a_review_after_an_earlier_approval_is_not_a_signup_review(rf):
    """Approved at sign-up, then held again later: the friend already has the welcome coupons."""
    from referrals.services.timeline import transition

    referral = held_signup(rf)
    approve_review(referral=referral, actor=UserFactory(is_staff=True))
    assert transition(
        referral=referral,
        to_state=ReferralState.UNDER_REVIEW,
        from_states=[ReferralState.REGISTERED],
        reason_code=ReasonCode.IP_BURST,
    )
    assert not review_opened_at_signup(referral=referral)
    assert not welcome_package_pending(friend=referral.friend)


def test_my_coupons_promises_the_message_only_to_a_friend_waiting_for_a_signup_check(rf, client):
    referral = held_signup(rf)
    client.force_login(referral.friend)
    html = client.get(reverse("coupons:wallet")).content.decode()
    assert "waiting for a quick check" in html
    assert "We will send you a message when it is done" in html

    burst, _order = burst_review()
    client.force_login(burst.friend)
    assert "waiting for a quick check" not in client.get(reverse("coupons:wallet")).content.decode()
