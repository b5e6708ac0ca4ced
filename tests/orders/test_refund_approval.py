"""Refund requests: Platinum and above under the limit are refunded at once, the rest wait for staff."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from accounts.models import Level, LevelCode, User
from flows import orders as flows
from orders.errors import InvalidTransition
from orders.models import Order, OrderState, RefundStatus
from support.models import AuditLog
from tests.factories import UserFactory, completed_order

pytestmark = pytest.mark.django_db

FILLER = {LevelCode.SILVER: None, LevelCode.GOLD: "200", LevelCode.PLATINUM: "500", LevelCode.DIAMOND: "2000"}


def member_at(level: str) -> User:
    """A member whose completed orders put them at `level` (before the order under test)."""
    member = UserFactory()
    if FILLER[level]:
        completed_order(buyer=member, total=FILLER[level])
    return member


def order_for(member: User, total: str) -> Order:
    return completed_order(buyer=member, total=total)


@pytest.mark.parametrize(
    ("level", "total", "auto"),
    [
        (LevelCode.PLATINUM, "99.99", True),
        (LevelCode.PLATINUM, "100.00", False),
        (LevelCode.PLATINUM, "100.01", False),
        (LevelCode.DIAMOND, "99.99", True),
        (LevelCode.DIAMOND, "100.00", False),
        (LevelCode.GOLD, "10.00", False),
        (LevelCode.SILVER, "5.00", False),
    ],
)
def test_fast_refunds_at_the_threshold_edges(level, total, auto):
    member = member_at(level)
    order = order_for(member, total)
    assert User.objects.get(pk=member.pk).level == level
    flows.request_refund(order=order)
    order.refresh_from_db()
    if auto:
        assert order.refund_status == RefundStatus.AUTO_APPROVED and order.state == OrderState.REFUNDED
        assert order.refunded_at == order.refund_requested_at == order.refund_decided_at
        assert order.refund_note.startswith("FAST_REFUND")
    else:
        assert order.refund_status == RefundStatus.REQUESTED and order.state == OrderState.COMPLETED
        assert order.refunded_at is None and order.has_pending_refund_request


def test_the_level_counts_before_the_refunded_order_drops_it():
    # 450 + 99.99 = 549 points: Platinum; the refund then takes the member back to Gold.
    member = UserFactory()
    completed_order(buyer=member, total="450.00")
    order = completed_order(buyer=member, total="99.99")
    assert User.objects.get(pk=member.pk).level == LevelCode.PLATINUM
    flows.request_refund(order=order)
    member.refresh_from_db()
    assert order.state == OrderState.REFUNDED
    assert (member.level, member.level_points) == (LevelCode.GOLD, 450)


def test_the_threshold_is_editable():
    Level.objects.filter(code=LevelCode.PLATINUM).update(fast_refund_limit=Decimal("150.00"))
    order = order_for(member_at(LevelCode.PLATINUM), "120.00")
    flows.request_refund(order=order)
    assert order.state == OrderState.REFUNDED
    Level.objects.filter(code=LevelCode.PLATINUM).update(fast_refund_limit=None)
    other = order_for(member_at(LevelCode.PLATINUM), "1.00")
    flows.request_refund(order=other)
    assert other.refund_status == RefundStatus.REQUESTED and other.refund_note == "LEVEL_HAS_NO_FAST_REFUND"


def test_one_request_at_a_time_and_only_for_paid_orders():
    order = order_for(member_at(LevelCode.SILVER), "30.00")
    flows.request_refund(order=order)
    with pytest.raises(InvalidTransition, match="already waiting for approval"):
        flows.request_refund(order=order)
    from tests.factories import ProductFactory

    unpaid = flows.place_order(member=order.buyer, lines=[(ProductFactory(), 1)], card_label="Visa 4242")
    with pytest.raises(InvalidTransition, match="Only a paid order can be refunded"):
        flows.request_refund(order=unpaid)
    unpaid.refresh_from_db()
    assert unpaid.refund_status == "" and unpaid.refund_requested_at is None


def test_staff_approve_a_waiting_request():
    staff = UserFactory(is_staff=True)
    member = UserFactory()
    order = completed_order(buyer=member, total="250.00")
    flows.request_refund(order=order)
    assert User.objects.get(pk=member.pk).level == LevelCode.GOLD
    flows.approve_refund(order=order, actor=staff, note="Item arrived broken")
    order.refresh_from_db()
    assert order.state == OrderState.REFUNDED and order.refund_status == RefundStatus.APPROVED
    assert order.refund_decided_by == staff and order.refund_note == "Item arrived broken"
    assert User.objects.get(pk=member.pk).level == LevelCode.SILVER  # points recomputed
    with pytest.raises(InvalidTransition, match="waiting for approval"):
        flows.approve_refund(order=order, actor=staff)


def test_staff_reject_with_a_reason_and_the_member_may_ask_again():
    staff = UserFactory(is_staff=True)
    order = order_for(member_at(LevelCode.SILVER), "30.00")
    flows.request_refund(order=order)
    with pytest.raises(ValueError, match="reason"):
        flows.reject_refund(order=order, actor=staff, note="  ")
    flows.reject_refund(order=order, actor=staff, note="Outside the return window")
    order.refresh_from_db()
    assert order.refund_status == RefundStatus.REJECTED and order.state == OrderState.COMPLETED
    assert order.refund_decided_by == staff
    flows.request_refund(order=order)
    assert order.refund_status == RefundStatus.REQUESTED and order.refund_decided_by_id is None


def test_an_approval_without_a_request_is_refused():
    order = order_for(member_at(LevelCode.SILVER), "30.00")
    with pytest.raises(InvalidTransition):
        flows.approve_refund(order=order, actor=UserFactory(is_staff=True))
    with pytest.raises(InvalidTransition):
        flows.reject_refund(order=order, actor=UserFactory(is_staff=True), note="x")


def test_a_shop_refund_event_is_a_completed_refund_whatever_the_level():
    order = order_for(member_at(LevelCode.SILVER), "300.00")
    result = flows.record_transition(order=order, event=OrderState.REFUNDED, strict=False)
    assert result.changed and order.state == OrderState.REFUNDED and order.refund_status == ""
    assert User.objects.get(pk=order.buyer_id).level_points == 0


def test_a_shop_refund_while_a_request_waits_closes_it_on_approval():
    staff = UserFactory(is_staff=True)
    order = order_for(member_at(LevelCode.SILVER), "30.00")
    flows.request_refund(order=order)
    flows.record_transition(order=order, event=OrderState.REFUNDED, strict=False)
    order.refresh_from_db()
    assert not order.has_pending_refund_request
    refunded_at = order.refunded_at
    flows.approve_refund(order=order, actor=staff)
    order.refresh_from_db()
    assert order.refund_status == RefundStatus.APPROVED and order.refunded_at == refunded_at


# --- Pages and admin ------------------------------------------------------------------------------


def test_member_page_request_waits_and_shows_its_status(client):
    order = order_for(member_at(LevelCode.SILVER), "30.00")
    client.force_login(order.buyer)
    html = client.post(reverse("orders:action", args=[order.external_id, "refund"]), follow=True).content.decode()
    assert "Refund requested: our team reviews it" in html
    assert "Refund requested on" in html and "Request refund</button>" not in html


def test_member_page_platinum_refund_is_immediate(client):
    order = order_for(member_at(LevelCode.PLATINUM), "40.00")
    client.force_login(order.buyer)
    html = client.post(reverse("orders:action", args=[order.external_id, "refund"]), follow=True).content.decode()
    assert "Refund approved at once" in html
    order.refresh_from_db()
    assert order.state == OrderState.REFUNDED


def test_rejected_request_reason_is_shown_to_the_member(client):
    order = order_for(member_at(LevelCode.SILVER), "30.00")
    flows.request_refund(order=order)
    flows.reject_refund(order=order, actor=UserFactory(is_staff=True), note="Used item")
    client.force_login(order.buyer)
    html = client.get(reverse("orders:detail", args=[order.external_id])).content.decode()
    assert "not approved: Used item" in html and "Request refund" in html


def test_admin_approve_action_asks_a_reason_and_audits_each_refund(admin_client):
    waiting = order_for(member_at(LevelCode.SILVER), "30.00")
    flows.request_refund(order=waiting)
    untouched = order_for(member_at(LevelCode.SILVER), "20.00")
    url = reverse("admin:orders_order_changelist")
    selected = {"action": "approve_refund_requests", ACTION_CHECKBOX_NAME: [waiting.pk, untouched.pk]}
    page = admin_client.post(url, selected)
    assert page.status_code == 200 and 'name="reason"' in page.content.decode()  # nothing happens without a reason
    waiting.refresh_from_db()
    assert waiting.refund_status == RefundStatus.REQUESTED
    response = admin_client.post(url, {**selected, "confirm": "yes", "reason": "Item arrived broken"}, follow=True)
    html = response.content.decode()
    assert "1 refund(s) approved." in html and "no refund request waiting" in html
    waiting.refresh_from_db()
    untouched.refresh_from_db()
    assert waiting.state == OrderState.REFUNDED and waiting.refund_decided_by.is_superuser
    assert waiting.refund_note == "Item arrived broken"
    assert untouched.state == OrderState.COMPLETED
    audit = AuditLog.objects.get(action="order.approve_refund")
    assert (audit.target_id, audit.reason, audit.actor) == (
        str(waiting.pk),
        "Item arrived broken",
        waiting.refund_decided_by,
    )


def test_admin_reject_action_asks_for_a_reason(admin_client):
    order = order_for(member_at(LevelCode.SILVER), "30.00")
    flows.request_refund(order=order)
    url = reverse("admin:orders_order_changelist")
    page = admin_client.post(url, {"action": "reject_refund_requests", ACTION_CHECKBOX_NAME: [order.pk]})
    assert page.status_code == 200 and "Reason (shown to the member)" in page.content.decode()
    order.refresh_from_db()
    assert order.refund_status == RefundStatus.REQUESTED
    missing = admin_client.post(
        url, {"action": "reject_refund_requests", ACTION_CHECKBOX_NAME: [order.pk], "confirm": "yes", "reason": ""}
    )
    assert "This field is required" in missing.content.decode()
    admin_client.post(
        url,
        {"action": "reject_refund_requests", ACTION_CHECKBOX_NAME: [order.pk], "confirm": "yes", "reason": "Used item"},
    )
    order.refresh_from_db()
    assert order.refund_status == RefundStatus.REJECTED and order.refund_note == "Used item"
    assert AuditLog.objects.get(action="order.reject_refund").reason == "Used item"
