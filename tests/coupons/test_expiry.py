"""Coupon expiry, reminders and staff voids (docs/program-rules.md section 4; docs/program-rules.md G6, scenario 7)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Notification
from coupons.models import Coupon, CouponStatus, LedgerEntry
from coupons.services import (
    CouponStateError,
    expire_overdue_coupons,
    issue_coupon,
    send_expiry_reminders,
    void_coupon,
)
from tests.factories import CouponFactory, UserFactory

pytestmark = pytest.mark.django_db

ISSUED = datetime(2026, 3, 1, 9, 30, 0, tzinfo=UTC)


def issued_coupon(owner=None, *, key="test:1", issued_at=ISSUED):
    return issue_coupon(
        member=owner or UserFactory(),
        source="referral",
        value=Decimal("5.00"),
        min_spend=Decimal("20.00"),
        idempotency_key=key,
        reason="test",
        issued_at=issued_at,
    )


def test_coupon_is_usable_until_issue_plus_30_days_and_not_a_second_longer():
    coupon = issued_coupon()
    expiry = ISSUED + timedelta(days=30)
    assert coupon.expires_at == expiry
    assert coupon.is_usable(expiry - timedelta(seconds=1))
    assert not coupon.is_usable(expiry)
    assert not coupon.is_usable(expiry + timedelta(seconds=1))
    assert Coupon.objects.usable(at=expiry - timedelta(seconds=1)).filter(pk=coupon.pk).exists()
    assert not Coupon.objects.usable(at=expiry).filter(pk=coupon.pk).exists()
    assert not Coupon.objects.usable(at=expiry + timedelta(seconds=1)).filter(pk=coupon.pk).exists()


def test_expiry_job_at_the_30_day_edge_marks_expired_with_a_ledger_row():
    coupon = issued_coupon()
    expiry = ISSUED + timedelta(days=30)
    with time_machine.travel(expiry - timedelta(seconds=1), tick=False):
        assert expire_overdue_coupons() == 0
    with time_machine.travel(expiry, tick=False):
        assert expire_overdue_coupons() == 1
        assert expire_overdue_coupons() == 0
    coupon.refresh_from_db()
    assert (coupon.status, coupon.expired_at) == (CouponStatus.EXPIRED, expiry)
    rows = list(coupon.ledger.order_by("id").values_list("event", "amount", "idempotency_key"))
    assert rows == [("issued", Decimal("5.00"), "test:1"), ("expired", Decimal("-5.00"), f"expired:{coupon.pk}")]


def test_an_expired_coupon_is_unusable_even_before_the_job_runs():
    coupon = issued_coupon()
    later = ISSUED + timedelta(days=31)
    coupon.refresh_from_db()
    assert coupon.status == CouponStatus.ACTIVE  # the job has not run
    assert not coupon.is_usable(later)


def test_expiry_is_one_update_per_batch_and_leaves_used_and_voided_coupons_alone():
    owner = UserFactory()
    overdue = [issued_coupon(owner, key=f"t:{i}") for i in range(5)]
    used = CouponFactory(owner=owner, issued_at=ISSUED, status=CouponStatus.USED)
    voided = CouponFactory(owner=owner, issued_at=ISSUED, status=CouponStatus.VOIDED)
    fresh = CouponFactory(owner=owner, issued_at=ISSUED + timedelta(days=10))
    with time_machine.travel(ISSUED + timedelta(days=31), tick=False), CaptureQueriesContext(connection) as queries:
        assert expire_overdue_coupons(batch=2) == 5
    # One UPDATE per batch (the ORM's, or on PostgreSQL the one statement of a batch), never one per row.
    updates = [q["sql"] for q in queries.captured_queries if re.search(r'UPDATE "?coupons_coupon"? ', q["sql"])]
    assert len(updates) == 3  # 2 + 2 + 1
    assert set(Coupon.objects.filter(status="expired").values_list("pk", flat=True)) == {c.pk for c in overdue}
    for other, status in [(used, "used"), (voided, "voided"), (fresh, "active")]:
        other.refresh_from_db()
        assert other.status == status
    assert LedgerEntry.objects.filter(event="expired").count() == 5


def test_a_coupon_expired_twice_keeps_one_ledger_row():
    owner = UserFactory()
    coupons = [issued_coupon(owner, key=f"r:{i}") for i in range(3)]
    with time_machine.travel(ISSUED + timedelta(days=31), tick=False):
        assert expire_overdue_coupons() == 3
        Coupon.objects.filter(pk=coupons[0].pk).update(status=CouponStatus.ACTIVE)  # as if a run had been undone
        assert expire_overdue_coupons() == 1
    row = LedgerEntry.objects.get(idempotency_key=f"expired:{coupons[0].pk}")
    assert (row.event, row.amount, row.member_id, row.reason) == (
        "expired",
        Decimal("-5.00"),
        owner.pk,
        "Expired unused",
    )
    assert LedgerEntry.objects.filter(event="expired").count() == 3


def test_reminder_three_days_before_expiry_once():
    owner = UserFactory()
    coupon = issued_coupon(owner)
    remind_at = coupon.expires_at - timedelta(days=3)
    with time_machine.travel(remind_at - timedelta(seconds=1), tick=False):
        assert send_expiry_reminders() == 0
    with time_machine.travel(remind_at, tick=False):
        assert send_expiry_reminders() == 1
        assert send_expiry_reminders() == 0
    with time_machine.travel(remind_at + timedelta(days=1), tick=False):
        assert send_expiry_reminders() == 0
    coupon.refresh_from_db()
    assert coupon.reminder_sent_at == remind_at
    notice = Notification.objects.get(user=owner, kind="coupon_expiring")
    assert notice.dedupe_key == f"expiry-reminder:{coupon.pk}"
    assert "$5.00" in notice.title


def test_no_reminder_for_used_or_already_expired_coupons():
    owner = UserFactory()
    CouponFactory(owner=owner, issued_at=ISSUED, status=CouponStatus.USED)
    issued_coupon(owner, key="expired-one", issued_at=ISSUED - timedelta(days=30))
    with time_machine.travel(ISSUED + timedelta(days=28), tick=False):
        assert send_expiry_reminders() == 0
    assert not Notification.objects.filter(user=owner).exists()


def test_staff_void_is_once_with_actor_and_reason():
    staff = UserFactory(is_staff=True)
    coupon = issued_coupon()
    with pytest.raises(CouponStateError, match="reason"):
        void_coupon(coupon=coupon, actor=staff, reason="")
    void_coupon(coupon=coupon, actor=staff, reason="Issued by mistake")
    coupon.refresh_from_db()
    assert coupon.status == CouponStatus.VOIDED
    assert coupon.voided_at is not None
    row = coupon.ledger.get(event="voided")
    assert (row.actor, row.reason, row.amount) == (staff, "Issued by mistake", Decimal("-5.00"))
    with pytest.raises(CouponStateError, match="Only an active coupon"):
        void_coupon(coupon=coupon, actor=staff, reason="again")
    assert coupon.ledger.filter(event="voided").count() == 1
