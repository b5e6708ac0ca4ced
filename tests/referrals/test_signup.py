"""Sign-up through a link: binding, eligibility with signals, welcome package (docs/program-rules.md 1, 2, 6)."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.conf import settings
from django.db import connection
from django.http import HttpResponse
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from accounts.devices import record_sighting
from accounts.identity import keyed_hash
from accounts.models import AccountStatus, Device, Notification, User
from coupons.models import Coupon
from flows.signup import register_referral
from lib.client import client_info
from referrals.cookies import read_attribution, set_attribution_cookie
from referrals.explain import FRIEND_REVIEW_TEXT
from referrals.models import Click, Referral, ReferralCode, ReferralEvent
from referrals.reasons import FLAGGED_MESSAGE, ReasonCode, ReferralState
from referrals.services import (
    WelcomePackageNotDue,
    issue_welcome_package,
    transition,
)
from tests.factories import (
    AccountDeviceFactory,
    DeviceFactory,
    ReferralCodeFactory,
    ReferralFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db
PASSWORD = "A-long-enough-pass-2026"


def signup(client, email="friend@example.com", first_name="Fred", referral_code="", **extra):
    data = {
        "first_name": first_name,
        "last_name": "Friend",
        "email": email,
        "country": "US",
        "password": PASSWORD,
        "referral_code": referral_code,
    }
    return client.post(reverse("accounts:signup"), data, **extra)


def signup_request(
    rf, *, device_id="friend-device", ip="127.0.0.1", agent="friend-browser", code=None, click=None, at=None
):
    request = rf.post("/accounts/signup/", REMOTE_ADDR=ip, HTTP_USER_AGENT=agent)
    request.device_id = device_id
    if code is not None:
        response = HttpResponse()
        set_attribution_cookie(
            response,
            code=code.code,
            click_id=click.pk if click else None,
            clicked_at=at or (click.clicked_at if click else timezone.now()),
        )
        request.COOKIES[settings.ATTRIBUTION_COOKIE_NAME] = response.cookies[settings.ATTRIBUTION_COOKIE_NAME].value
    return request


def new_friend(request, **fields) -> User:
    """A member created the way the sign-up view does: the account, then its sign-up sighting."""
    friend = UserFactory(**fields)
    record_sighting(client=client_info(request), kind="signup", member=friend)
    return friend


# --- through the pages -------------------------------------------------------------------------


def test_friend_through_a_link_gets_a_referral_and_the_welcome_package(client):
    code = ReferralCodeFactory(user__first_name="Maya")
    client.get(reverse("referrals:click", args=[code.code]) + "?ch=telegram")
    page = client.get(reverse("accounts:signup")).content.decode()
    assert "You're joining with Maya's invitation." in page
    assert "Invitation code (optional)" in page

    response = signup(client)
    assert response.status_code == 302
    friend = User.objects.get(email="friend@example.com")
    referral = Referral.objects.get(friend=friend)
    assert referral.referrer == code.user
    assert referral.code == code
    assert referral.state == ReferralState.REGISTERED
    assert referral.channel == "telegram"
    assert referral.click == Click.objects.get()
    assert referral.signals["strong"] == []
    assert list(referral.events.values_list("to_state", flat=True)) == ["registered"]

    coupons = Coupon.objects.filter(owner=friend, welcome_for=referral).order_by("value")
    assert [(c.value, c.min_spend) for c in coupons] == [
        (Decimal("4.00"), Decimal("5.00")),
        (Decimal("5.00"), Decimal("25.00")),
        (Decimal("7.00"), Decimal("49.00")),
        (Decimal("8.00"), Decimal("69.00")),
    ]
    assert {c.source for c in coupons} == {"welcome"}
    assert {c.currency for c in coupons} == {"USD"}
    assert all(c.expires_at - c.issued_at == timedelta(days=30) for c in coupons)
    notice = Notification.objects.get(user=code.user)
    assert notice.kind == "friend_joined"
    assert notice.title == "A friend joined with your link"
    assert notice.dedupe_key == f"friend-joined:{referral.pk}"


def test_without_a_link_there_is_no_referral_and_no_banner(client):
    assert "joining with" not in client.get(reverse("accounts:signup")).content.decode()
    signup(client)
    friend = User.objects.get(email="friend@example.com")
    assert not Referral.objects.filter(friend=friend).exists()
    assert not Coupon.objects.filter(owner=friend).exists()


def test_two_links_before_signup_last_click_wins(client):
    first = ReferralCodeFactory(user__first_name="Ann")
    second = ReferralCodeFactory(user__first_name="Bob")
    client.get(reverse("referrals:click", args=[first.code]) + "?ch=email")
    client.get(reverse("referrals:click", args=[second.code]) + "?ch=qr")
    assert "Bob's invitation" in client.get(reverse("accounts:signup")).content.decode()
    signup(client)
    referral = Referral.objects.get()
    assert referral.code == second
    assert referral.channel == "qr"


def test_a_link_after_signup_changes_nothing(client, rf):
    first = ReferralCodeFactory()
    client.get(reverse("referrals:click", args=[first.code]))
    signup(client)
    referral = Referral.objects.get()
    other = ReferralCodeFactory()
    response = client.get(reverse("referrals:click", args=[other.code]))
    assert response.status_code == 302
    assert client.get(reverse("referrals:landing"))["Location"] == reverse("referrals:invite")
    friend = referral.friend
    assert client.cookies[settings.ATTRIBUTION_COOKIE_NAME].value.startswith(other.code)
    request = signup_request(rf, code=other)
    assert (
        register_referral(friend=friend, client=client_info(request), attribution=read_attribution(request)) == referral
    )
    assert Referral.objects.get(friend=friend).code == first
    assert Referral.objects.count() == 1


def test_an_expired_cookie_gives_no_referral_but_a_normal_account(client):
    code = ReferralCodeFactory()
    with time_machine.travel(timezone.now() - timedelta(days=31), tick=False):
        client.get(reverse("referrals:click", args=[code.code]))
    assert "joining with" not in client.get(reverse("accounts:signup")).content.decode().split("<form", 1)[0]
    signup(client)
    assert User.objects.filter(email="friend@example.com").exists()
    assert Referral.objects.count() == 0


def test_a_typed_code_binds_the_friend(client):
    code = ReferralCodeFactory()
    signup(client, referral_code=code.code.lower())
    referral = Referral.objects.get()
    assert referral.code == code
    assert referral.channel == "typed"
    assert referral.click is None


def test_a_typed_code_wins_over_the_cookie(client):
    clicked = ReferralCodeFactory()
    typed = ReferralCodeFactory()
    client.get(reverse("referrals:click", args=[clicked.code]))
    signup(client, referral_code=typed.code)
    assert Referral.objects.get().code == typed


def test_typing_the_clicked_code_keeps_the_click(client):
    code = ReferralCodeFactory()
    client.get(reverse("referrals:click", args=[code.code]) + "?ch=x")
    signup(client, referral_code=code.code)
    referral = Referral.objects.get()
    assert referral.channel == "x"
    assert referral.click is not None


@pytest.mark.parametrize("kind", ["unknown", "disabled", "flagged"])
def test_an_unusable_typed_code_is_a_form_error_that_reveals_nothing(client, kind):
    code = ReferralCodeFactory()
    typed = {"unknown": "ZZZZZZZZZ", "disabled": code.code, "flagged": code.code}[kind]
    if kind == "disabled":
        ReferralCode.objects.filter(pk=code.pk).update(is_active=False)
    if kind == "flagged":
        User.objects.filter(pk=code.user.pk).update(status=AccountStatus.FLAGGED)
    response = signup(client, referral_code=typed)
    assert response.status_code == 200
    assert response.context["form"].errors["referral_code"] == ["We don't recognise this invitation code."]
    assert not User.objects.filter(email="friend@example.com").exists()


def test_a_flagged_members_link_gives_no_referral(client):
    code = ReferralCodeFactory()
    User.objects.filter(pk=code.user.pk).update(status=AccountStatus.FLAGGED)
    client.get(reverse("referrals:click", args=[code.code]))
    signup(client)
    assert User.objects.filter(email="friend@example.com").exists()
    assert Referral.objects.count() == 0


def test_referrer_flagged_after_the_click_rejects_without_welcome_or_notice(client):
    code = ReferralCodeFactory()
    client.get(reverse("referrals:click", args=[code.code]))
    User.objects.filter(pk=code.user.pk).update(status=AccountStatus.FLAGGED)
    page = client.get(reverse("accounts:signup")).content.decode()
    assert "invitation." not in page  # the banner names no flagged member
    signup(client)
    referral = Referral.objects.get()
    assert referral.state == ReferralState.REJECTED
    assert referral.reason_code == ReasonCode.ACCOUNT_FLAGGED
    assert not Coupon.objects.exists()
    assert not Notification.objects.filter(user=code.user).exists()
    assert str(FLAGGED_MESSAGE) not in page


# --- what the friend is told on the page they land on (docs/program-rules.md section 2) ----------------

NOT_APPLIED = "Your invitation could not be applied: "


def landed(client, *, country="US", email="friend@example.com", **extra):
    """Sign up through the real view, follow the redirect; (path landed on, messages shown, page HTML)."""
    data = {
        "first_name": "Fred",
        "last_name": "Friend",
        "email": email,
        "country": country,
        "password": PASSWORD,
        "referral_code": "",
    }
    response = client.post(reverse("accounts:signup"), data, follow=True, **extra)
    assert response.redirect_chain and response.status_code == 200
    assert User.objects.filter(email=email).exists()  # a normal account, whatever the referral's fate
    shown = [str(m) for m in response.context["messages"]]
    assert shown[0].startswith("Welcome, Fred! Your account is ready.")
    return response.redirect_chain[-1][0], shown[1:], response.content.decode()


def assert_on_page(message, page):
    from django.utils.html import escape

    assert escape(message) in page


def click(client, code, **extra):
    client.get(reverse("referrals:click", args=[code.code]) + "?ch=whatsapp", **extra)


def test_friend_in_another_country_waits_for_a_check_instead_of_a_rejection(client):
    code = ReferralCodeFactory(user__first_name="Maya")
    click(client, code, REMOTE_ADDR="81.2.69.142")
    path, shown, page = landed(client, country="US", REMOTE_ADDR="81.2.69.142")  # a GB address
    referral = Referral.objects.get()
    assert (referral.state, referral.reason_code) == (ReferralState.UNDER_REVIEW, ReasonCode.REGION_MISMATCH)
    assert path == reverse("coupons:wallet")
    assert shown == [FRIEND_REVIEW_TEXT]
    assert_on_page(shown[0], page)
    assert "Maya" not in shown[0]


def test_friend_in_a_restricted_country_is_told_the_program_is_not_available_there(client):
    code = ReferralCodeFactory()
    click(client, code, REMOTE_ADDR="77.88.8.8")
    path, shown, page = landed(client, country="RU", REMOTE_ADDR="77.88.8.8")  # RU address, RU account
    assert Referral.objects.get().reason_code == ReasonCode.REGION_RESTRICTED
    assert path == reverse("referrals:invite")
    assert shown == [f"{NOT_APPLIED}the Invite Friends program is not available in your country."]
    assert_on_page(shown[0], page)


def test_a_known_member_is_told_invitations_are_for_new_members_never_which_signal(client):
    UserFactory(email="fred.friend@gmail.com")
    code = ReferralCodeFactory(user__first_name="Maya")
    click(client, code)
    path, shown, page = landed(client, email="fredfriend+shop@gmail.com")  # the same Gmail box
    assert Referral.objects.get().reason_code == ReasonCode.ALREADY_REGISTERED
    assert path == reverse("referrals:invite")
    assert shown == [f"{NOT_APPLIED}invitations are only for people who are new to the marketplace."]
    assert_on_page(shown[0], page)
    assert "e-mail" not in shown[0] and "Maya" not in shown[0]


def test_the_referrer_on_their_own_device_is_flagged_and_the_friend_reads_only_the_security_sentence(client):
    code = ReferralCodeFactory(user__email="maya@example.com")
    # The referrer logs in on this browser (its device is recorded), logs out, and signs up again.
    login = client.post(reverse("accounts:login"), {"username": "maya@example.com", "password": "pass-for-tests-123"})
    assert login.status_code == 302
    client.post(reverse("accounts:logout"))
    click(client, code)
    path, shown, page = landed(client)
    referral = Referral.objects.get(friend__email="friend@example.com")
    assert referral.reason_code == ReasonCode.SELF_REFERRAL
    # Accounts on one device that refer each other are flagged (docs/program-rules.md section 6): the new
    # account lands on the home page (not a program action) told exactly the security sentence.
    assert referral.friend.status == referral.referrer.status == AccountStatus.FLAGGED
    assert path == reverse("home")
    assert shown == [FLAGGED_MESSAGE]
    assert_on_page(str(FLAGGED_MESSAGE), page)
    invite = client.get(reverse("referrals:invite"))
    assert invite.status_code == 200  # readiness first: the sentence and the way to an appeal, nothing to share
    assert_on_page(str(FLAGGED_MESSAGE), invite.content.decode())
    assert reverse("support:appeal") in invite.content.decode()


def test_a_flagged_referrer_shows_the_friend_exactly_the_security_sentence(client):
    code = ReferralCodeFactory()
    click(client, code)
    User.objects.filter(pk=code.user.pk).update(status=AccountStatus.FLAGGED)
    path, shown, page = landed(client)
    assert Referral.objects.get().reason_code == ReasonCode.ACCOUNT_FLAGGED
    assert path == reverse("referrals:invite")
    assert shown == [FLAGGED_MESSAGE]
    assert_on_page(str(FLAGGED_MESSAGE), page)


def test_friend_under_review_lands_on_my_coupons_told_the_welcome_coupons_wait_for_a_check(client):
    code = ReferralCodeFactory()
    agent = {"REMOTE_ADDR": "8.8.8.8", "HTTP_USER_AGENT": "Same Browser/1.0"}
    record_sighting(
        client=client_info(
            signup_request(RequestFactory(), device_id="referrer-dev", ip="8.8.8.8", agent="Same Browser/1.0")
        ),
        kind="login",
        member=code.user,
    )
    click(client, code, **agent)
    path, shown, page = landed(client, **agent)
    assert Referral.objects.get().reason_code == ReasonCode.SHARED_IP_AND_AGENT
    assert path == reverse("coupons:wallet")
    assert shown == [
        "Your welcome coupons are waiting for a quick check by our team; "
        "they appear in My Coupons as soon as it is done, usually within a day."
    ]
    assert_on_page(shown[0], page)
    assert "network" not in shown[0] and "browser" not in shown[0]


def test_friend_whose_invitation_worked_lands_on_the_welcome_coupons(client):
    click(client, ReferralCodeFactory())
    path, shown, _ = landed(client)
    assert path == reverse("coupons:wallet")
    assert shown == ["Your welcome coupons are here, ready for your first orders."]


def test_without_a_link_there_is_no_invitation_message(client):
    path, shown, _ = landed(client)
    assert path == reverse("referrals:invite")
    assert shown == []


# --- the service ------------------------------------------------------------------------------


def test_self_referral_on_the_referrers_device_is_rejected_with_signals(rf):
    code = ReferralCodeFactory()
    request = signup_request(rf, device_id="shared-device", code=code)
    record_sighting(client=client_info(request), kind="login", member=code.user)
    friend = new_friend(request)
    referral = register_referral(friend=friend, client=client_info(request), attribution=read_attribution(request))
    assert referral.state == ReferralState.REJECTED
    assert referral.reason_code == ReasonCode.SELF_REFERRAL
    assert referral.signals["checks"]["same_device_as_referrer"] is True
    assert referral.decided_at is not None
    assert ReferralEvent.objects.get(referral=referral).reason_code == ReasonCode.SELF_REFERRAL
    assert not Coupon.objects.exists()


def test_same_normalised_email_as_another_account_is_already_registered(rf):
    UserFactory(email="jane.doe@gmail.com")
    code = ReferralCodeFactory()
    request = signup_request(rf, code=code)
    friend = new_friend(request, email="janedoe+shop@gmail.com")
    referral = register_referral(friend=friend, client=client_info(request), attribution=read_attribution(request))
    assert referral.reason_code == ReasonCode.ALREADY_REGISTERED
    assert referral.signals["facts"]["accounts_with_email"] == 1


def test_a_card_seen_on_another_account_is_already_registered(rf):
    from tests.factories import PaymentCardFactory

    PaymentCardFactory(fingerprint="fp-shared")
    code = ReferralCodeFactory()
    request = signup_request(rf, code=code)
    friend = new_friend(request)
    PaymentCardFactory(user=friend, fingerprint="fp-shared")
    assert (
        register_referral(friend=friend, client=client_info(request), attribution=read_attribution(request)).reason_code
        == ReasonCode.ALREADY_REGISTERED
    )


def test_a_device_already_used_by_another_member_is_already_registered(rf):
    code = ReferralCodeFactory()
    device = DeviceFactory(id_hash=keyed_hash("family-laptop", purpose="device"))
    AccountDeviceFactory(device=device, first_seen_at=timezone.now() - timedelta(days=3))
    request = signup_request(rf, device_id="family-laptop", code=code)
    friend = new_friend(request)
    assert (
        register_referral(friend=friend, client=client_info(request), attribution=read_attribution(request)).reason_code
        == ReasonCode.ALREADY_REGISTERED
    )


def _program_accounts_on(device, n):
    for _ in range(n):
        referral = ReferralFactory(referrer__phone_verified=True)
        AccountDeviceFactory(device=device, user=referral.friend, first_seen_at=timezone.now() - timedelta(days=1))


def test_device_limit_fourth_program_account_joins_fifth_is_refused(rf):
    device = DeviceFactory(id_hash=keyed_hash("cafe-pc", purpose="device"))
    _program_accounts_on(device, 3)
    code = ReferralCodeFactory()
    request = signup_request(rf, device_id="cafe-pc", code=code)
    fourth = register_referral(
        friend=new_friend(request), client=client_info(request), attribution=read_attribution(request)
    )
    assert fourth.state == ReferralState.REGISTERED
    fifth = register_referral(
        friend=new_friend(request), client=client_info(request), attribution=read_attribution(request)
    )
    assert fifth.state == ReferralState.REJECTED
    assert fifth.reason_code == ReasonCode.DEVICE_LIMIT
    assert fifth.signals["facts"]["device_program_accounts"] == 4


def test_a_fifth_account_on_a_device_cannot_join_as_a_referrer_either(rf):
    """docs/program-rules.md section 6: "More than 4 accounts on one device: the extra accounts can't join the
    program"."""
    shared = DeviceFactory(id_hash=keyed_hash("family-pc", purpose="device"))
    _program_accounts_on(shared, 4)  # four friends on the shared computer already take part
    code = ReferralCodeFactory()
    AccountDeviceFactory(device=shared, user=code.user)  # the referrer, not yet in the program, uses it too
    request = signup_request(rf, device_id="friends-own-phone", code=code)
    referral = register_referral(
        friend=new_friend(request), client=client_info(request), attribution=read_attribution(request)
    )
    assert referral.state == ReferralState.REJECTED
    assert referral.reason_code == ReasonCode.DEVICE_LIMIT
    assert referral.signals["checks"]["referrer_device_limit"] is True
    assert referral.signals["facts"]["referrer_device_program_accounts"] == 4
    assert not Coupon.objects.filter(owner=referral.friend).exists()


def test_a_referrer_already_taking_part_keeps_inviting_from_a_busy_device(rf):
    shared = DeviceFactory(id_hash=keyed_hash("family-pc", purpose="device"))
    code = ReferralCodeFactory()
    ReferralFactory(referrer=code.user, code=code)  # takes part already: one of the device's first accounts
    AccountDeviceFactory(device=shared, user=code.user)
    _program_accounts_on(shared, 4)
    request = signup_request(rf, device_id="friends-own-phone", code=code)
    referral = register_referral(
        friend=new_friend(request), client=client_info(request), attribution=read_attribution(request)
    )
    assert referral.state == ReferralState.REGISTERED
    assert referral.signals["checks"]["referrer_device_limit"] is False


def test_a_referrer_with_three_program_accounts_beside_them_may_join(rf):
    shared = DeviceFactory(id_hash=keyed_hash("family-pc", purpose="device"))
    _program_accounts_on(shared, 3)
    code = ReferralCodeFactory()
    AccountDeviceFactory(device=shared, user=code.user)
    request = signup_request(rf, device_id="friends-own-phone", code=code)
    assert (
        register_referral(
            friend=new_friend(request), client=client_info(request), attribution=read_attribution(request)
        ).state
        == ReferralState.REGISTERED
    )


def test_region_mismatch_goes_to_review_not_rejection(rf):
    code = ReferralCodeFactory()
    request = signup_request(rf, ip="81.2.69.142", code=code)  # GB, account in US
    referral = register_referral(
        friend=new_friend(request, country="US"), client=client_info(request), attribution=read_attribution(request)
    )
    assert referral.reason_code == ReasonCode.REGION_MISMATCH
    assert referral.state == ReferralState.UNDER_REVIEW
    assert referral.signals["medium"] == [ReasonCode.REGION_MISMATCH]


def test_restricted_region_is_rejected(rf):
    code = ReferralCodeFactory()
    request = signup_request(rf, ip="77.88.8.8", code=code)
    referral = register_referral(
        friend=new_friend(request, country="RU"), client=client_info(request), attribution=read_attribution(request)
    )
    assert referral.reason_code == ReasonCode.REGION_RESTRICTED


def test_inactive_referrer_is_rejected(rf):
    code = ReferralCodeFactory(user__phone_verified_at=None)
    request = signup_request(rf, code=code)
    assert (
        register_referral(
            friend=new_friend(request), client=client_info(request), attribution=read_attribution(request)
        ).reason_code
        == ReasonCode.REFERRER_INACTIVE
    )


def test_same_ip_and_agent_as_the_referrer_goes_to_review_without_welcome(rf):
    code = ReferralCodeFactory()
    request = signup_request(rf, ip="8.8.8.8", agent="Same Browser/1.0", code=code)
    record_sighting(
        client=client_info(signup_request(rf, device_id="referrer-dev", ip="8.8.8.8", agent="Same Browser/1.0")),
        kind="login",
        member=code.user,
    )
    referral = register_referral(
        friend=new_friend(request), client=client_info(request), attribution=read_attribution(request)
    )
    assert referral.state == ReferralState.UNDER_REVIEW
    assert referral.reason_code == ReasonCode.SHARED_IP_AND_AGENT
    assert referral.review_requested_at is not None
    assert not Coupon.objects.exists()
    assert Notification.objects.filter(user=code.user, kind="friend_joined").exists()


BROWSER_FINGERPRINT = "3f" * 32  # what static/js/fingerprint.js posts: a SHA-256 hex digest


def _referrer_logged_in_elsewhere(rf, code, *, fingerprint: str, ip: str = "8.8.4.4") -> None:
    """The referrer's login on their own browser (another device cookie; another IP unless given)."""
    request = signup_request(rf, device_id="referrer-dev", ip=ip, agent="Referrer Browser/1.0")
    record_sighting(client=client_info(request, fingerprint=fingerprint), kind="login", member=code.user)


def _friend_signing_up(rf, code, *, fingerprint: str):
    request = signup_request(rf, device_id="friend-device", ip="8.8.8.8", agent="Friend Browser/2.0", code=code)
    friend = UserFactory()
    record_sighting(client=client_info(request, fingerprint=fingerprint), kind="signup", member=friend)
    return register_referral(friend=friend, client=client_info(request), attribution=read_attribution(request))


def test_same_browser_fingerprint_from_the_referrers_ip_on_another_device_goes_to_review(rf):
    code = ReferralCodeFactory()
    _referrer_logged_in_elsewhere(rf, code, fingerprint=BROWSER_FINGERPRINT, ip="8.8.8.8")
    referral = _friend_signing_up(rf, code, fingerprint=BROWSER_FINGERPRINT)
    assert referral.state == ReferralState.UNDER_REVIEW
    assert referral.reason_code == ReasonCode.SHARED_FINGERPRINT
    assert referral.signals["medium"] == [ReasonCode.SHARED_FINGERPRINT]
    assert referral.signals["checks"]["same_fingerprint_as_referrer"] is True
    assert referral.signals["checks"]["same_device_as_referrer"] is False
    stored = keyed_hash(BROWSER_FINGERPRINT, purpose="fingerprint")[:12]
    assert referral.signals["facts"]["fingerprint_hash"] == stored
    assert referral.signals["facts"]["referrer"]["fingerprint_hashes"] == [stored]
    assert referral.review_requested_at is not None
    assert not Coupon.objects.exists()  # the welcome package waits for staff
    assert User.objects.filter(status=AccountStatus.FLAGGED).count() == 0  # medium: no flag


def test_same_browser_fingerprint_from_another_ip_is_recorded_and_the_friend_joins(rf):
    code = ReferralCodeFactory()
    _referrer_logged_in_elsewhere(rf, code, fingerprint=BROWSER_FINGERPRINT)
    referral = _friend_signing_up(rf, code, fingerprint=BROWSER_FINGERPRINT)
    assert referral.state == ReferralState.REGISTERED
    assert referral.signals["weak"] == [ReasonCode.SHARED_FINGERPRINT]
    assert Coupon.objects.filter(owner=referral.friend, source="welcome").exists()


@pytest.mark.parametrize(
    ("referrer_fingerprint", "friend_fingerprint"),
    [
        (BROWSER_FINGERPRINT, ""),  # the friend's browser sent none
        ("", ""),  # neither did: two empty fingerprints are no match
        (BROWSER_FINGERPRINT, "4e" * 32),  # another browser
    ],
    ids=["friend-sent-none", "both-empty", "another-browser"],
)
def test_no_fingerprint_or_another_fingerprint_is_no_signal(rf, referrer_fingerprint, friend_fingerprint):
    code = ReferralCodeFactory()
    _referrer_logged_in_elsewhere(rf, code, fingerprint=referrer_fingerprint)
    referral = _friend_signing_up(rf, code, fingerprint=friend_fingerprint)
    assert referral.state == ReferralState.REGISTERED
    assert referral.reason_code == ""
    assert referral.signals["checks"]["same_fingerprint_as_referrer"] is False


def test_shared_ip_alone_is_only_recorded(rf):
    code = ReferralCodeFactory()
    record_sighting(
        client=client_info(signup_request(rf, device_id="r", ip="8.8.8.8", agent="Other/2")),
        kind="login",
        member=code.user,
    )
    request = signup_request(rf, ip="8.8.8.8", code=code)
    referral = register_referral(
        friend=new_friend(request), client=client_info(request), attribution=read_attribution(request)
    )
    assert referral.state == ReferralState.REGISTERED
    assert referral.signals["weak"] == [ReasonCode.SHARED_IP]


def test_disposable_email_goes_to_review(rf):
    code = ReferralCodeFactory()
    request = signup_request(rf, code=code)
    referral = register_referral(
        friend=new_friend(request, email="x@mailinator.com"),
        client=client_info(request),
        attribution=read_attribution(request),
    )
    assert referral.reason_code == ReasonCode.DISPOSABLE_EMAIL


def test_more_than_three_accounts_from_one_ip_in_a_day_go_to_review(rf):
    code = ReferralCodeFactory()
    outcomes = []
    for n in range(4):
        request = signup_request(rf, device_id=f"dev-{n}", code=code)
        outcomes.append(
            register_referral(
                friend=new_friend(request), client=client_info(request), attribution=read_attribution(request)
            ).reason_code
        )
    assert outcomes == ["", "", "", ReasonCode.IP_BURST]


def test_phone_country_differing_from_ip_country_goes_to_review(rf):
    code = ReferralCodeFactory()
    request = signup_request(rf, ip="8.8.8.8", code=code)
    referral = register_referral(
        friend=new_friend(request, phone="+447911123456"),
        client=client_info(request),
        attribution=read_attribution(request),
    )
    assert referral.reason_code == ReasonCode.COUNTRY_SIGNAL_MISMATCH


def test_welcome_package_after_staff_approval_is_issued_once(rf):
    code = ReferralCodeFactory()
    request = signup_request(rf, code=code)
    referral = register_referral(
        friend=new_friend(request, email="x@mailinator.com"),
        client=client_info(request),
        attribution=read_attribution(request),
    )
    with pytest.raises(WelcomePackageNotDue):
        issue_welcome_package(referral=referral)
    assert transition(
        referral=referral,
        to_state=ReferralState.REGISTERED,
        from_states=[ReferralState.UNDER_REVIEW],
        reason_code=ReasonCode.STAFF_APPROVED,
    )
    first = issue_welcome_package(referral=referral)
    again = issue_welcome_package(referral=referral)
    assert len(first) == 4
    assert [c.pk for c in first] == [c.pk for c in again]
    assert Coupon.objects.filter(welcome_for=referral).count() == 4


def test_rejected_referral_never_gets_a_welcome_package():
    referral = ReferralFactory(
        referrer__phone_verified=True, state=ReferralState.REJECTED, reason_code=ReasonCode.SELF_REFERRAL
    )
    with pytest.raises(WelcomePackageNotDue):
        issue_welcome_package(referral=referral)


def test_at_most_one_referral_per_friend(rf):
    code = ReferralCodeFactory()
    request = signup_request(rf, code=code)
    friend = new_friend(request)
    first = register_referral(friend=friend, client=client_info(request), attribution=read_attribution(request))
    other = ReferralCodeFactory()
    assert (
        register_referral(
            friend=friend,
            client=client_info(signup_request(rf, code=other)),
            attribution=read_attribution(signup_request(rf, code=other)),
        )
        == first
    )
    assert (
        register_referral(
            friend=friend, client=client_info(request), attribution=read_attribution(request), typed_code=other.code
        )
        == first
    )
    assert Referral.objects.filter(friend=friend).count() == 1
    assert Coupon.objects.filter(owner=friend).count() == 4


# --- the device limit under concurrency ------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("attempt", range(3))
def test_two_signups_racing_for_a_devices_last_slot_exactly_one_wins(attempt):
    from django.test import RequestFactory

    rf = RequestFactory()
    device = DeviceFactory(id_hash=keyed_hash("shared-tablet", purpose="device"))
    _program_accounts_on(device, 3)
    code = ReferralCodeFactory()
    clicked_at = timezone.now() - timedelta(minutes=5)
    friends = []
    for n in range(2):
        request = signup_request(rf, device_id="shared-tablet", code=code, at=clicked_at, ip=f"8.8.4.{n + 1}")
        friends.append((new_friend(request), request))
    barrier = threading.Barrier(2)
    results, errors = [], []

    def worker(friend, request):
        try:
            barrier.wait()
            results.append(
                register_referral(friend=friend, client=client_info(request), attribution=read_attribution(request))
            )
        except Exception as error:  # noqa: BLE001
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=pair) for pair in friends]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    states = sorted((r.state, r.reason_code) for r in results)
    assert states == [("registered", ""), ("rejected", "DEVICE_LIMIT")]
    assert Device.objects.filter(pk=device.pk).exists()
    assert Coupon.objects.filter(welcome_for__state="registered", owner__in=[f for f, _ in friends]).count() == 4


# --- a genuinely new friend keeps the welcome package when the referrer's side fails (section 2) ---------------


def test_friend_of_a_referrer_without_a_verified_phone_keeps_the_welcome_package_and_reads_the_welcome(client):
    code = ReferralCodeFactory(user__phone_verified_at=None, user__first_name="Maya")
    click(client, code)
    path, shown, page = landed(client)
    referral = Referral.objects.get()
    assert referral.state == ReferralState.REJECTED
    assert referral.reason_code == ReasonCode.REFERRER_INACTIVE
    friend = User.objects.get(email="friend@example.com")
    assert Coupon.objects.filter(owner=friend, welcome_for=referral).count() == 4
    assert path == reverse("coupons:wallet")
    assert shown == ["Your welcome coupons are here, ready for your first orders."]
    assert "not active" not in page


def test_friend_of_a_referrer_in_a_country_outside_the_program_keeps_the_welcome_package(rf):
    code = ReferralCodeFactory(user__country="RU")
    request = signup_request(rf, code=code)
    referral = register_referral(
        friend=new_friend(request, country="US"), client=client_info(request), attribution=read_attribution(request)
    )
    assert referral.reason_code == ReasonCode.REGION_RESTRICTED
    assert Coupon.objects.filter(owner=referral.friend, welcome_for=referral).count() == 4


def test_friend_side_failure_with_a_referrer_side_one_gives_no_welcome_package(rf):
    """Both sides fail (referrer without phone, friend in a country outside the program): nothing for the friend."""
    code = ReferralCodeFactory(user__phone_verified_at=None)
    request = signup_request(rf, ip="77.88.8.8", code=code)
    referral = register_referral(
        friend=new_friend(request, country="RU"), client=client_info(request), attribution=read_attribution(request)
    )
    assert referral.state == ReferralState.REJECTED
    assert not Coupon.objects.filter(owner=referral.friend).exists()
    with pytest.raises(WelcomePackageNotDue):
        issue_welcome_package(referral=referral)
