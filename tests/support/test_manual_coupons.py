"""Money staff can hand out is bounded (issue 16; docs/program-rules.md section 10; coupons.services.manual):
a per-region ceiling, never to one's own account, and above a threshold a second staff member approves before the
coupon exists (four eyes), audited on both sides."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from accounts.models import Region
from coupons.models import Coupon, LedgerEntry, ManualCouponRequest
from coupons.services.manual import (
    ManualCouponDraft,
    ManualCouponRefused,
    approve_manual_coupon,
    issue_manual_coupon,
)
from support.models import AuditLog
from tests.factories import ManualCouponRequestFactory, UserFactory
from tests.support.test_staff_powers import issue_form

pytestmark = pytest.mark.django_db

ISSUE = "/admin/coupons/coupon/issue/"


def draft(member, value: str, ref: str = "t-1") -> ManualCouponDraft:
    return ManualCouponDraft(
        member=member,
        kind="platform",
        value=Decimal(value),
        min_spend=Decimal("0"),
        currency="USD",
        valid_days=30,
        reason="Parcel lost",
        token=ref,
    )


def test_the_region_ceiling_bounds_one_manual_coupon():
    region = Region.objects.get(country="US")
    assert (region.manual_coupon_ceiling, region.manual_coupon_approval_above) == (Decimal("50.00"), Decimal("20.00"))
    staff, member = UserFactory(is_staff=True), UserFactory(country="US")
    with pytest.raises(ManualCouponRefused, match=r"At most 50\.00 USD"):
        issue_manual_coupon(actor=staff, draft=draft(member, "5000.00"))
    with pytest.raises(ManualCouponRefused, match=r"At most 50\.00 USD"):
        issue_manual_coupon(actor=staff, draft=draft(member, "50.01"))
    assert not Coupon.objects.exists() and not ManualCouponRequest.objects.exists()
    Region.objects.filter(pk=region.pk).update(manual_coupon_ceiling=Decimal("60.00"))
    assert isinstance(issue_manual_coupon(actor=staff, draft=draft(member, "55.00")), ManualCouponRequest)


def test_nobody_issues_a_coupon_to_their_own_account(staff_client):
    staff = staff_client.staff
    with pytest.raises(ManualCouponRefused, match="own account"):
        issue_manual_coupon(actor=staff, draft=draft(staff, "5.00"))
    response = staff_client.post(ISSUE, issue_form(staff, "5.00"))
    assert response.status_code == 200 and "own account" in response.content.decode()
    assert not Coupon.objects.filter(owner=staff).exists()
    assert not AuditLog.objects.exists()


def test_the_issue_page_refuses_above_the_ceiling_with_a_form_error(staff_client):
    member = UserFactory(country="US")
    response = staff_client.post(ISSUE, issue_form(member, "5000.00", min_spend="0", valid_days="365"))
    assert response.status_code == 200 and "At most 50.00 USD" in response.content.decode()
    assert not Coupon.objects.exists()


def test_at_the_threshold_the_coupon_is_issued_at_once():
    coupon = issue_manual_coupon(actor=UserFactory(is_staff=True), draft=draft(UserFactory(country="US"), "20.00"))
    assert isinstance(coupon, Coupon) and coupon.value == Decimal("20.00")


def test_above_the_threshold_the_coupon_waits_for_a_second_staff_member_audited_on_both_sides(
    staff_client, role_client
):
    member = UserFactory(country="US")
    response = staff_client.post(ISSUE, issue_form(member, "30.00"))
    assert response.status_code == 302
    assert not Coupon.objects.filter(owner=member).exists()  # nothing exists before the approval
    request = ManualCouponRequest.objects.get(member=member)
    asked = AuditLog.objects.get(action="coupon.issue_manual")
    assert (asked.actor, asked.details["approval_request_id"], asked.details["coupon_id"]) == (
        staff_client.staff,
        request.pk,
        None,
    )

    url = reverse("admin:coupons_manualcouponrequest_changelist")
    # The requester cannot approve their own request (a superuser included).
    staff_client.post(url, {"action": "approve_requests", ACTION_CHECKBOX_NAME: [request.pk], "confirm": "yes"})
    request.refresh_from_db()
    assert request.status == ManualCouponRequest.Status.PENDING and not Coupon.objects.filter(owner=member).exists()

    manager = role_client("Program manager")
    manager.post(
        url, {"action": "approve_requests", ACTION_CHECKBOX_NAME: [request.pk], "confirm": "yes", "reason": "OK"}
    )
    request.refresh_from_db()
    coupon = Coupon.objects.get(owner=member)
    assert (request.status, request.decided_by, request.coupon) == ("approved", manager.user, coupon)
    approved = AuditLog.objects.get(action="coupon.approve_manual")
    assert (approved.actor, approved.target_id, approved.details["coupon_id"]) == (
        manager.user,
        str(request.pk),
        coupon.pk,
    )
    entry = LedgerEntry.objects.get(coupon=coupon)
    assert entry.actor == staff_client.staff and f"approved by {manager.user.email}" in entry.reason


def test_an_approval_happens_once_and_never_by_the_member():
    request = ManualCouponRequestFactory(member=UserFactory(country="US", is_staff=True))
    with pytest.raises(ManualCouponRefused, match="own account"):
        approve_manual_coupon(request_id=request.pk, approver=request.member)
    approve_manual_coupon(request_id=request.pk, approver=UserFactory(is_staff=True))
    with pytest.raises(ManualCouponRefused, match="already decided"):
        approve_manual_coupon(request_id=request.pk, approver=UserFactory(is_staff=True))
    assert Coupon.objects.filter(owner=request.member).count() == 1


@pytest.mark.parametrize(("role", "allowed"), [("Program manager", True), ("Fraud analyst", False)])
def test_only_program_managers_approve_manual_coupons(role_client, role, allowed):
    request = ManualCouponRequestFactory(member=UserFactory(country="US"))
    client = role_client(role)
    client.post(
        reverse("admin:coupons_manualcouponrequest_changelist"),
        {"action": "approve_requests", ACTION_CHECKBOX_NAME: [request.pk], "confirm": "yes", "reason": "Fine"},
    )
    assert Coupon.objects.filter(owner=request.member).exists() is allowed


def test_program_managers_cannot_raise_the_bounds_they_are_held_to(role_client):
    client = role_client("Program manager")
    region = Region.objects.get(country="US")
    page = client.get(reverse("admin:accounts_region_change", args=[region.pk])).content.decode()
    assert 'name="manual_coupon_ceiling"' not in page and 'name="manual_coupon_approval_above"' not in page
