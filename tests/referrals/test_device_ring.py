"""Accounts on one device that refer each other are all flagged (docs/program-rules.md section 6).

`register_referral` flags the ring (referrals.services.device_ring) when a friend signs up on a
device the referrer has used: friend, referrer and every other referral pair seen on that device.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.devices import record_sighting
from accounts.identity import keyed_hash
from accounts.models import AccountStatus, StatusReason, User
from accounts.services import flag_account, suspend_account
from flows.signup import register_referral
from lib.client import client_info
from referrals.cookies import read_attribution
from referrals.models import Referral, ReferralEvent
from referrals.reasons import FLAGGED_MESSAGE, ReasonCode, ReferralState
from referrals.services.device_ring import flag_device_ring
from support.models import AuditLog
from tests.factories import AccountDeviceFactory, DeviceFactory, ReferralCodeFactory, ReferralFactory, UserFactory
from tests.referrals.test_signup import signup_request

pytestmark = pytest.mark.django_db

RING_DEVICE = "ring-laptop"
PREFIX = keyed_hash(RING_DEVICE, purpose="device")[:12]


def status_of(*users) -> list[tuple[str, str]]:
    by_pk = {u.pk: (u.status, u.status_reason) for u in User.objects.filter(pk__in=[u.pk for u in users])}
    return [by_pk[u.pk] for u in users]


def sign_up_on(rf, device_id: str, code) -> Referral:
    """A new member signs up through `code`'s link on `device_id` the way the sign-up view does it."""
    request = signup_request(rf, device_id=device_id, code=code)
    friend = UserFactory()
    record_sighting(client=client_info(request), kind="signup", member=friend)
    return register_referral(friend=friend, client=client_info(request), attribution=read_attribution(request))


FLAGGED_RING = (AccountStatus.FLAGGED, StatusReason.DEVICE_RING)
ACTIVE = (AccountStatus.ACTIVE, "")


def test_a_friend_on_the_referrers_device_flags_both_with_an_automatic_audit_row(rf):
    code = ReferralCodeFactory()
    record_sighting(client=client_info(signup_request(rf, device_id=RING_DEVICE)), kind="login", member=code.user)

    referral = sign_up_on(rf, RING_DEVICE, code)

    assert (referral.state, referral.reason_code) == (ReferralState.REJECTED, ReasonCode.SELF_REFERRAL)
    assert status_of(code.user, referral.friend) == [FLAGGED_RING, FLAGGED_RING]
    # The caller's objects are current too (the view tells the friend from them).
    assert referral.friend.status == referral.referrer.status == AccountStatus.FLAGGED

    rows = list(AuditLog.objects.order_by("target_id"))
    assert [(row.action, row.actor_id, row.target_id) for row in rows] == [
        ("member.flag", None, str(pk)) for pk in sorted([code.user.pk, referral.friend.pk])
    ]
    for row in rows:
        assert row.target_type == "accounts.user"
        assert row.reason.startswith(f"Automatic: accounts on device {PREFIX}… refer each other (DEVICE_RING)")
        assert row.details["automatic"] is True
        assert row.details["reason_code"] == "DEVICE_RING"
        assert row.details["device"] == PREFIX
        assert row.details["referral_ids"] == [referral.pk]

    stored = Referral.objects.get(pk=referral.pk)
    assert stored.signals["device_ring"] == {
        "device": PREFIX,
        "referral_ids": [referral.pk],
        "flagged_account_ids": sorted([code.user.pk, referral.friend.pk]),
        "already_flagged_or_suspended_ids": [],
    }
    note = ReferralEvent.objects.get(referral=referral).note
    assert f"Device {PREFIX}… shared with the referrer" in note and "DEVICE_RING" in note


def test_a_ring_of_three_accounts_on_one_device_is_all_flagged_and_bystanders_are_not(rf):
    code = ReferralCodeFactory()
    earlier = ReferralFactory(code=code)  # the referrer already referred another account ...
    # ... and someone else's friend uses the laptop too
    bystander_referral = ReferralFactory(referrer__phone_verified=True)
    lone_member = UserFactory()  # as does a member outside the program
    for user in (code.user, earlier.friend, bystander_referral.friend, lone_member):
        record_sighting(client=client_info(signup_request(rf, device_id=RING_DEVICE)), kind="login", member=user)

    third = sign_up_on(rf, RING_DEVICE, code)

    assert status_of(code.user, earlier.friend, third.friend) == [FLAGGED_RING] * 3
    # Their referrer never used the laptop: no referral links two accounts on it.
    assert status_of(bystander_referral.friend, bystander_referral.referrer, lone_member) == [ACTIVE] * 3
    ring = Referral.objects.get(pk=third.pk).signals["device_ring"]
    assert ring["referral_ids"] == sorted([earlier.pk, third.pk])
    assert ring["flagged_account_ids"] == sorted([code.user.pk, earlier.friend.pk, third.friend.pk])
    assert AuditLog.objects.filter(action="member.flag", actor=None).count() == 3
    friend_row = AuditLog.objects.get(target_id=str(earlier.friend.pk))
    assert friend_row.details["linked_account_ids"] == sorted([code.user.pk, third.friend.pk])


def test_a_friend_on_another_device_flags_nobody(rf):
    code = ReferralCodeFactory()
    record_sighting(client=client_info(signup_request(rf, device_id="referrers-phone")), kind="login", member=code.user)
    # Even a device with an old referral pair on it: only a sign-up on the referrer's device reveals a ring.
    earlier = ReferralFactory(referrer__phone_verified=True)
    device = DeviceFactory(id_hash=keyed_hash("friends-laptop", purpose="device"))
    for user in (earlier.referrer, earlier.friend):
        AccountDeviceFactory(device=device, user=user, first_seen_at=timezone.now() - timedelta(days=2))

    referral = sign_up_on(rf, "friends-laptop", code)

    assert referral.signals["checks"]["same_device_as_referrer"] is False
    assert "device_ring" not in referral.signals
    assert not User.objects.exclude(status=AccountStatus.ACTIVE).exists()
    assert not AuditLog.objects.exists()


@pytest.mark.parametrize(
    ("set_status", "expected"),
    [
        (lambda user: flag_account(member=user, reason_code=StatusReason.STAFF_REVIEW), ("flagged", "STAFF_REVIEW")),
        (lambda user: suspend_account(member=user, reason_code="TERMS_VIOLATION"), ("suspended", "TERMS_VIOLATION")),
    ],
    ids=["already-flagged", "suspended"],
)
def test_an_already_flagged_or_suspended_referrer_keeps_its_status_and_the_friend_is_flagged(rf, set_status, expected):
    code = ReferralCodeFactory()
    record_sighting(client=client_info(signup_request(rf, device_id=RING_DEVICE)), kind="login", member=code.user)
    set_status(code.user)

    referral = sign_up_on(rf, RING_DEVICE, code)

    assert referral.state == ReferralState.REJECTED
    assert status_of(code.user, referral.friend) == [expected, FLAGGED_RING]
    assert list(AuditLog.objects.values_list("target_id", flat=True)) == [str(referral.friend.pk)]
    ring = Referral.objects.get(pk=referral.pk).signals["device_ring"]
    assert ring["flagged_account_ids"] == [referral.friend.pk]
    assert ring["already_flagged_or_suspended_ids"] == [code.user.pk]


def test_flagging_a_ring_again_changes_nothing_and_writes_no_audit_row(rf):
    code = ReferralCodeFactory()
    record_sighting(client=client_info(signup_request(rf, device_id=RING_DEVICE)), kind="login", member=code.user)
    referral = sign_up_on(rf, RING_DEVICE, code)
    changed_at = list(User.objects.order_by("pk").values_list("status_changed_at", flat=True))

    again = flag_device_ring(device_hash=keyed_hash(RING_DEVICE, purpose="device"), referral=referral)

    assert again.flagged == ()
    assert sorted(again.unchanged) == sorted([code.user.pk, referral.friend.pk])
    assert list(User.objects.order_by("pk").values_list("status_changed_at", flat=True)) == changed_at
    assert AuditLog.objects.count() == 2


def test_the_flagged_ring_sees_only_the_security_sentence_until_staff_clear_it_in_the_admin(rf):
    code = ReferralCodeFactory()
    record_sighting(client=client_info(signup_request(rf, device_id=RING_DEVICE)), kind="login", member=code.user)
    referral = sign_up_on(rf, RING_DEVICE, code)

    member = Client()
    member.force_login(code.user)
    refused = member.get(reverse("referrals:invite"))
    # Readiness first: the security sentence and the way to an appeal, no link to share.
    assert refused.status_code == 200
    assert str(FLAGGED_MESSAGE) in refused.content.decode()
    assert "DEVICE_RING" not in refused.content.decode()
    assert "invite-link" not in refused.content.decode()

    staff = Client()
    staff.force_login(UserFactory(is_staff=True, is_superuser=True))
    staff.post(
        reverse("admin:accounts_user_changelist"),
        {"action": "clear_flags", "_selected_action": [code.user.pk], "confirm": "yes", "reason": "family laptop"},
    )
    assert status_of(code.user, referral.friend) == [ACTIVE, FLAGGED_RING]
    assert "invite-link" in member.get(reverse("referrals:invite")).content.decode()
