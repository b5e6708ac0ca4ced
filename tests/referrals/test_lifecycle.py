"""The referral side of the friend's first order (PROGRAM_RULES.md section 3, RELIABILITY.md section 3)."""

from __future__ import annotations

import sys
import types
from datetime import timedelta
from decimal import Decimal
from unittest import mock

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.models import AccountDevice, Device, Notification
from coupons.models import Coupon, CouponStatus, LedgerEntry
from referrals.models import MonthlyRewardCounter, ReferralEvent
from referrals.reasons import FLAGGED_MESSAGE, ReasonCode, ReferralState
from referrals.services import approve_review, credit_referral, record_first_order_event, reject_review
from referrals.services.review import ReviewError
from support.models import SupportRequest
from tests.factories import CreditingPaymentCardFactory, CreditingReferralFactory, OrderFactory, UserFactory
from tests.referrals.helpers import event, referral_with_order

pytestmark = pytest.mark.django_db

T0 = timezone.now().replace(microsecond=0) - timedelta(hours=2)


def credited_referral():
    referral, order = referral_with_order()
    event(referral, order, "placed", T0)
    event(referral, order, "completed", T0 + timedelta(minutes=30))
    assert credit_referral(referral_id=referral.pk) == ReferralState.CREDITED
    referral.refresh_from_db()
    return referral, order


def test_an_order_of_a_member_without_referral_is_ignored():
    order = OrderFactory()
    assert record_first_order_event(order=order, event="completed", occurred_at=timezone.now()) is None


def test_unknown_event_and_naive_time_are_refused():
    _referral, order = referral_with_order()
    with pytest.raises(ValueError, match="unknown order event"):
        record_first_order_event(order=order, event="exploded", occurred_at=timezone.now())
    with pytest.raises(ValueError, match="timezone-aware"):
        record_first_order_event(order=order, event="placed", occurred_at=timezone.now().replace(tzinfo=None))


def test_placed_moves_to_order_placed_with_the_order_facts():
    referral, order = referral_with_order()
    event(referral, order, "placed", T0)
    assert referral.state == ReferralState.ORDER_PLACED
    assert referral.first_order_id == order.pk
    assert referral.order_placed_at == T0
    row = referral.events.get(to_state=ReferralState.ORDER_PLACED)
    assert (row.from_state, row.occurred_at) == (ReferralState.REGISTERED, T0)


def test_card_used_by_the_referrer_voids_at_first_order():
    referral = CreditingReferralFactory()
    CreditingPaymentCardFactory(user=referral.referrer, fingerprint="fp_shared")
    order = OrderFactory(
        buyer=referral.friend, card=CreditingPaymentCardFactory(user=referral.friend, fingerprint="fp_shared")
    )
    event(referral, order, "placed", T0)
    assert referral.state == ReferralState.VOIDED
    assert referral.reason_code == ReasonCode.SHARED_PAYMENT_METHOD
    assert referral.first_order_id == order.pk
    notice = Notification.objects.get(user=referral.referrer, kind="referral_voided")
    assert "card already used on your account or device" in notice.body


def test_card_used_by_another_account_on_the_referrers_device_voids():
    referral = CreditingReferralFactory()
    device = Device.objects.create(id_hash="dev-referrer")
    roommate = UserFactory()
    AccountDevice.objects.create(user=referral.referrer, device=device)
    AccountDevice.objects.create(user=roommate, device=device)
    CreditingPaymentCardFactory(user=roommate, fingerprint="fp_roommate")
    order = OrderFactory(
        buyer=referral.friend, card=CreditingPaymentCardFactory(user=referral.friend, fingerprint="fp_roommate")
    )
    event(referral, order, "placed", T0)
    assert (referral.state, referral.reason_code) == (ReferralState.VOIDED, ReasonCode.SHARED_PAYMENT_METHOD)


def test_the_friends_own_new_card_is_fine():
    referral, order = referral_with_order()
    CreditingPaymentCardFactory(
        user=UserFactory(), fingerprint=order.card.fingerprint
    )  # a stranger: no link to the referrer
    event(referral, order, "placed", T0)
    assert referral.state == ReferralState.ORDER_PLACED


def test_completed_qualifies_with_the_reward_due_at_completion_and_enqueues_after_commit(
    django_capture_on_commit_callbacks,
):
    referral, order = referral_with_order()
    event(referral, order, "placed", T0)
    done = T0 + timedelta(hours=1)
    with mock.patch("referrals.tasks.credit_referral_task.delay") as delay:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            event(referral, order, "completed", done)
        delay.assert_not_called()  # nothing is published before the commit
        for callback in callbacks:
            callback()
    delay.assert_called_once_with(referral.pk)
    assert referral.state == ReferralState.QUALIFIED
    assert referral.completed_at == done
    assert referral.credit_due_at == done


def test_completed_without_a_placed_event_still_qualifies():
    referral, order = referral_with_order()
    event(referral, order, "completed", T0)
    assert referral.state == ReferralState.QUALIFIED
    assert referral.first_order_id == order.pk
    assert referral.order_placed_at == order.placed_at


def test_cancel_before_completion_voids():
    referral, order = referral_with_order()
    event(referral, order, "placed", T0)
    event(referral, order, "canceled", T0 + timedelta(minutes=5))
    assert (referral.state, referral.reason_code) == (ReferralState.VOIDED, ReasonCode.FIRST_ORDER_CANCELED)
    assert referral.decided_at == T0 + timedelta(minutes=5)
    # A completion reported later (it happened after the cancel) changes nothing.
    event(referral, order, "completed", T0 + timedelta(minutes=10))
    assert referral.state == ReferralState.VOIDED
    assert not Coupon.objects.filter(referral=referral).exists()


def test_refund_after_completion_changes_nothing():
    referral, order = referral_with_order()
    event(referral, order, "completed", T0)
    event(referral, order, "refunded", T0 + timedelta(days=3))
    assert referral.state == ReferralState.QUALIFIED
    assert credit_referral(referral_id=referral.pk) == ReferralState.CREDITED


def test_late_refund_that_happened_before_completion_voids_a_qualified_referral():
    referral, order = referral_with_order()
    event(referral, order, "completed", T0 + timedelta(hours=1))
    event(referral, order, "refunded", T0)
    assert (referral.state, referral.reason_code) == (ReferralState.VOIDED, ReasonCode.FIRST_ORDER_REFUNDED)
    assert credit_referral(referral_id=referral.pk) == ReferralState.VOIDED
    assert not Coupon.objects.filter(referral=referral).exists()


def test_refund_heard_first_but_after_completion_reopens_to_qualified():
    referral, order = referral_with_order()
    event(referral, order, "refunded", T0 + timedelta(days=2))
    assert referral.state == ReferralState.VOIDED
    event(referral, order, "completed", T0)
    assert referral.state == ReferralState.QUALIFIED
    assert referral.reason_code == ""
    assert referral.completed_at == T0


def test_events_of_a_later_order_are_ignored():
    referral, order = referral_with_order()
    event(referral, order, "completed", T0)
    second = OrderFactory(buyer=referral.friend, is_first=False)
    event(referral, second, "canceled", T0 - timedelta(hours=1))
    assert referral.state == ReferralState.QUALIFIED


def test_cancel_before_completion_after_credit_reverses_the_reward():
    referral, order = credited_referral()
    coupon = referral.reward_coupon
    month_counter = MonthlyRewardCounter.objects.get(referrer=referral.referrer)
    assert month_counter.count == 1
    event(referral, order, "canceled", T0 + timedelta(minutes=10))
    assert (referral.state, referral.reason_code) == (ReferralState.VOIDED, ReasonCode.FIRST_ORDER_CANCELED)
    coupon.refresh_from_db()
    assert coupon.status == CouponStatus.VOIDED
    rows = list(LedgerEntry.objects.filter(coupon=coupon).order_by("id").values_list("event", "amount"))
    assert rows == [("issued", Decimal("5.00")), ("reversed", Decimal("-5.00"))]
    month_counter.refresh_from_db()
    assert month_counter.count == 0
    assert "Reward reversed" in referral.events.last().note
    assert "withdrawn" in Notification.objects.get(user=referral.referrer, kind="referral_voided").body
    # The same late event again: nothing more happens.
    event(referral, order, "canceled", T0 + timedelta(minutes=10))
    assert LedgerEntry.objects.filter(coupon=coupon).count() == 2
    month_counter.refresh_from_db()
    assert month_counter.count == 0


def test_reversal_of_a_used_reward_goes_to_support():
    referral, order = credited_referral()
    spent_on = OrderFactory(buyer=referral.referrer, is_first=False)
    Coupon.objects.filter(referral=referral).update(
        status=CouponStatus.USED, used_at=timezone.now(), used_order=spent_on
    )
    event(referral, order, "refunded", T0 + timedelta(minutes=1))
    assert referral.state == ReferralState.VOIDED
    case = SupportRequest.objects.get(referral=referral)
    assert case.kind == SupportRequest.Kind.REWARD_REVERSAL
    assert case.evidence["used_order_id"] == spent_on.pk
    reversal = LedgerEntry.objects.get(referral=referral, event="reversed")
    assert reversal.amount == Decimal("0")
    assert MonthlyRewardCounter.objects.get(referrer=referral.referrer).count == 0


def test_under_review_keeps_its_state_but_stores_the_order_facts():
    referral, order = referral_with_order(state=ReferralState.UNDER_REVIEW, reason_code=ReasonCode.DISPOSABLE_EMAIL)
    event(referral, order, "placed", T0)
    event(referral, order, "completed", T0 + timedelta(hours=1))
    assert referral.state == ReferralState.UNDER_REVIEW
    assert (referral.first_order_id, referral.order_placed_at) == (order.pk, T0)
    assert referral.completed_at == T0 + timedelta(hours=1)
    assert not Coupon.objects.filter(referral=referral).exists()


def test_rejected_stays_rejected():
    referral, order = referral_with_order(state=ReferralState.REJECTED, reason_code=ReasonCode.SELF_REFERRAL)
    event(referral, order, "completed", T0)
    assert referral.state == ReferralState.REJECTED
    assert referral.completed_at == T0


def test_approving_a_review_with_a_completed_order_credits_it():
    staff = UserFactory(is_staff=True)
    referral, order = referral_with_order(state=ReferralState.UNDER_REVIEW, reason_code=ReasonCode.DISPOSABLE_EMAIL)
    event(referral, order, "completed", T0)
    approve_review(referral=referral, actor=staff, note="Known customer")
    referral.refresh_from_db()
    assert referral.state == ReferralState.CREDITED
    approval = referral.events.get(from_state=ReferralState.UNDER_REVIEW)
    assert (approval.to_state, approval.actor, approval.actor_kind) == (ReferralState.QUALIFIED, staff, "staff")
    assert approval.note == "Known customer"
    assert Coupon.objects.filter(referral=referral, status=CouponStatus.ACTIVE).count() == 1
    with pytest.raises(ReviewError, match="under review"):
        approve_review(referral=referral, actor=staff)


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        ([], ReferralState.REGISTERED),
        (["placed"], ReferralState.ORDER_PLACED),
        (["placed", "canceled"], ReferralState.VOIDED),
    ],
)
def test_approval_continues_from_the_stored_order_facts(events, expected):
    staff = UserFactory(is_staff=True)
    referral, order = referral_with_order(state=ReferralState.UNDER_REVIEW, reason_code=ReasonCode.IP_BURST)
    for i, name in enumerate(events):
        event(referral, order, name, T0 + timedelta(minutes=i))
    approve_review(referral=referral, actor=staff)
    referral.refresh_from_db()
    assert referral.state == expected
    if expected == ReferralState.VOIDED:
        assert referral.reason_code == ReasonCode.FIRST_ORDER_CANCELED


def test_approval_issues_the_welcome_package_when_that_service_exists(monkeypatch):
    staff = UserFactory(is_staff=True)
    referral, _ = referral_with_order(state=ReferralState.UNDER_REVIEW, reason_code=ReasonCode.IP_BURST)
    received = []
    fake = types.ModuleType("referrals.services.signup")
    fake.issue_welcome_package = lambda *, referral: received.append(referral.pk)
    monkeypatch.setitem(sys.modules, "referrals.services.signup", fake)
    approve_review(referral=referral, actor=staff)
    assert received == [referral.pk]


def test_only_staff_decide_reviews():
    referral, _ = referral_with_order(state=ReferralState.UNDER_REVIEW, reason_code=ReasonCode.IP_BURST)
    with pytest.raises(ReviewError, match="staff"):
        approve_review(referral=referral, actor=UserFactory())
    referral.refresh_from_db()
    assert referral.state == ReferralState.UNDER_REVIEW


def test_reject_review_records_reason_note_and_tells_the_referrer():
    staff = UserFactory(is_staff=True)
    referral, _ = referral_with_order(state=ReferralState.UNDER_REVIEW, reason_code=ReasonCode.IP_BURST)
    with pytest.raises(ReviewError, match="note"):
        reject_review(referral=referral, actor=staff, reason_code=ReasonCode.STAFF_REJECTED, note=" ")
    with pytest.raises(ReviewError, match="Unknown reason"):
        reject_review(referral=referral, actor=staff, reason_code="NOPE", note="x")
    reject_review(referral=referral, actor=staff, reason_code=ReasonCode.STAFF_REJECTED, note="Same household")
    referral.refresh_from_db()
    assert (referral.state, referral.reason_code) == (ReferralState.REJECTED, ReasonCode.STAFF_REJECTED)
    last = referral.events.last()
    assert (last.actor, last.note) == (staff, "Same household")
    notice = Notification.objects.get(user=referral.referrer, kind="referral_rejected")
    assert "does not meet the program rules" in notice.body


def test_a_flag_is_never_named_to_the_member():
    staff = UserFactory(is_staff=True)
    referral, _ = referral_with_order(state=ReferralState.UNDER_REVIEW, reason_code=ReasonCode.IP_BURST)
    reject_review(referral=referral, actor=staff, reason_code=ReasonCode.ACCOUNT_FLAGGED, note="fraud ring")
    notice = Notification.objects.get(user=referral.referrer, kind="referral_rejected")
    assert notice.body == FLAGGED_MESSAGE
    assert "fraud" not in notice.title + notice.body


# --- Scenario 3 (RELIABILITY.md section 6): completed and refunded in every order, with duplicates ----------

STEPS = st.lists(st.sampled_from(["placed", "completed", "refunded", "credit"]), min_size=2, max_size=9).filter(
    lambda steps: "completed" in steps and "refunded" in steps
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=STEPS, refund_before_completion=st.booleans())
def test_any_order_of_completed_and_refunded_events(steps, refund_before_completion):
    referral, order = referral_with_order()
    completed_at = T0 + timedelta(hours=1)
    refunded_at = completed_at - timedelta(minutes=20) if refund_before_completion else completed_at + timedelta(days=1)
    times = {"placed": T0, "completed": completed_at, "refunded": refunded_at}
    for step in [*steps, "credit"]:  # the sweep always runs again at the end
        if step == "credit":
            credit_referral(referral_id=referral.pk)
        else:
            event(referral, order, step, times[step])
    referral.refresh_from_db()
    coupons = Coupon.objects.filter(referral=referral)
    counter = MonthlyRewardCounter.objects.filter(referrer=referral.referrer).first()
    if refund_before_completion:
        assert referral.state == ReferralState.VOIDED
        assert referral.reason_code == ReasonCode.FIRST_ORDER_REFUNDED
        assert not coupons.filter(status=CouponStatus.ACTIVE).exists()
        # Ledger balanced: whatever was issued was taken back, and the monthly slot returned.
        for coupon in coupons:
            assert sum(coupon.ledger.values_list("amount", flat=True)) == 0
        assert counter is None or counter.count == 0
    else:
        assert referral.state == ReferralState.CREDITED
        assert coupons.filter(status=CouponStatus.ACTIVE).count() == 1
        assert counter.count == 1
    assert coupons.count() <= 1
    assert ReferralEvent.objects.filter(referral=referral, to_state=ReferralState.CREDITED).count() <= 1
