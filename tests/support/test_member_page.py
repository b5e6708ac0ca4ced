"""The member page made for support work (accounts/admin/member_page.py): the member's own figures from the
selectors their pages use, referrals with timelines, coupons, ledger, devices; no password hash or permission
pickers for non-superusers; status actions from the page go through the audited staff actions."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import AccountStatus
from referrals.selectors import meter
from referrals.services import credit_referral
from support.models import AuditLog
from tests.factories import AccountDeviceFactory, ReferralCodeFactory, UserFactory
from tests.support.builders import referral_with_timeline

pytestmark = pytest.mark.django_db


def page(member) -> str:
    return reverse("admin:accounts_user_change", args=[member.pk])


def text_of(html: str, element_id: str) -> str:
    match = re.search(rf'id="{element_id}"[^>]*>(.*?)</dd>', html, re.S)
    assert match, element_id
    return " ".join(re.sub(r"<[^>]+>", " ", match.group(1)).split())


@pytest.fixture
def referrer():
    code = ReferralCodeFactory(user__phone_verified=True)
    for _ in range(3):
        referral = referral_with_timeline(state="qualified", code=code)
        assert credit_referral(referral_id=referral.pk) == "credited"
    referral_with_timeline(state="under_review", code=code, reason_code="DISPOSABLE_EMAIL")
    AccountDeviceFactory(user=code.user)
    return code.user


@pytest.mark.parametrize("role", ["Support agent", "Fraud analyst", "Program manager"])
def test_the_member_page_has_no_password_hash_or_permission_pickers(role_client, referrer, role):
    client = role_client(role)
    html = client.get(page(referrer)).content.decode()
    assert referrer.email in html
    for raw in ("pbkdf2", "id_groups", "id_user_permissions", "Superuser status", "Raw passwords are not stored"):
        assert raw not in html, raw
    assert "Edit account fields" not in html  # the raw form is for superusers only
    # What the member sees, the referrals and their timelines, coupons, ledger.
    for heading in (
        "What the member sees on Invite Friends",
        "Referrals made (friends invited)",
        "Coupons",
        "Coupon ledger",
        "Devices",
        "Staff actions on this member (audit log)",
    ):
        assert heading in html, heading
    assert "under_review" in html and "DISPOSABLE_EMAIL" in html  # a timeline entry and its reason


def test_the_figures_are_the_members_own(role_client, referrer):
    client = role_client("Support agent")
    html = client.get(page(referrer)).content.decode()
    progress = meter.monthly_progress(member=referrer, now=timezone.now())
    assert progress.count == 3
    assert text_of(html, "member-meter").startswith(f"{progress.count} of {progress.limit} referral coupons")
    [(_currency, total, n)] = meter.referral_earnings(member=referrer)
    assert text_of(html, "member-earnings") == f"${total:.2f} · {n} coupons"
    assert text_of(html, "member-tab-all") == "4"
    assert text_of(html, "member-tab-credited") == "3"


def test_readiness_names_what_keeps_the_link_from_earning(role_client):
    client = role_client("Support agent")
    member = UserFactory(country="RU", status=AccountStatus.FLAGGED, status_reason="DEVICE_RING")
    html = client.get(page(member)).content.decode()
    assert "Account flagged" in html and "DEVICE_RING" in html
    assert "For security reasons, your request cannot be processed." in html
    assert "Phone not verified" in html and "REFERRER_INACTIVE" in html
    assert "Country outside the program" in html and "REGION_RESTRICTED" in html


def test_a_superuser_can_still_open_the_account_form(staff_client):
    member = UserFactory()
    html = staff_client.get(page(member)).content.decode()
    assert "Edit account fields (superuser)" in html and "id_user_permissions" not in html
    form = staff_client.get(page(member) + "?edit=1").content.decode()
    assert "id_user_permissions" in form


def test_only_a_superuser_may_post_the_account_form(role_client):
    client = role_client("Fraud analyst")
    member = UserFactory(first_name="Before")
    response = client.post(page(member), {"email": member.email, "first_name": "After"})
    assert response.status_code == 403
    member.refresh_from_db()
    assert member.first_name == "Before"


def test_flagging_from_the_member_page_is_audited(role_client):
    client = role_client("Fraud analyst")
    member = UserFactory()
    html = client.get(page(member)).content.decode()
    url = reverse("admin:accounts_user_act", args=[member.pk, "flag_for_review"])
    assert url in html
    form = client.get(url).content.decode()
    assert 'name="reason"' in form and f'href="{page(member)}"' in form  # Cancel returns to the member
    response = client.post(url, {"confirm": "yes", "reason_code": "STAFF_REVIEW", "reason": "Checked the ring"})
    assert response.status_code == 302 and response["Location"] == page(member)
    member.refresh_from_db()
    assert member.status == AccountStatus.FLAGGED
    row = AuditLog.objects.get(action="member.flag")
    assert (row.actor, row.target_id, row.reason) == (client.user, str(member.pk), "Checked the ring")
    html = client.get(page(member)).content.decode()
    assert "member.flag" in html and "Checked the ring" in html  # the audited action shows on the page


def test_status_actions_need_their_permission(role_client):
    client = role_client("Support agent")  # no flag_member
    member = UserFactory()
    assert "Flag for review" not in client.get(page(member)).content.decode()
    url = reverse("admin:accounts_user_act", args=[member.pk, "flag_for_review"])
    response = client.post(url, {"confirm": "yes", "reason_code": "STAFF_REVIEW", "reason": "Not mine to do"})
    assert response.status_code == 403
    member.refresh_from_db()
    assert member.status == AccountStatus.ACTIVE
    assert not AuditLog.objects.exists()
