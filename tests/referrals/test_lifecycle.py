"""The referral side of the friend's first order (docs/program-rules.md section 3, docs/program-rules.md G3)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from unittest import mock

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.models import AccountDevice, Device, Notification
from coupons.models import Coupon, CouponStatus, LedgerEntry
from flows.orders import pass_first_order_event
from referrals.models import MonthlyRewardCounter, Referral, ReferralEvent
from referrals.program import program_month
from referrals.reasons import FLAGGED_MESSAGE, ReasonCode, ReferralState
from referrals.services import approve_review, credit_referral, record_first_order_event, reject_review, review
from referrals.services.review import ReviewError
from support.models import SupportRequest
from tests.factories import OrderFactory, PaymentCardFactory, ReferralFactory, UserFactory
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
    assert record_first_order_event(order=order, event="completed", occurred_at=timezone.now()).referral is None


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
    referral = ReferralFactory()
    PaymentCardFactory(user=referral.referrer, fingerprint="fp_shared")
    order = OrderFactory(buyer=referral.friend, card=PaymentCardFactory(user=referral.friend, fingerprint="fp_shared"))
    event(referral, order, "placed", T0)
    assert referral.state == ReferralState.VOIDED
    assert referral.reason_code == ReasonCode.SHARED_PAYMENT_METHOD
    assert referral.first_order_id == order.pk
    notice = Notification.objects.get(user=referral.referrer, kind="referral_voided")
    assert "card already used on your account or device" in notice.body


def test_card_used_by_another_account_on_the_referrers_device_voids():
    referral = ReferralFactory()
    device = Device.objects.create(id_hash="dev-referrer")
    roommate = UserFactory()
    AccountDevice.objects.create(user=referral.referrer, device=device)
    AccountDevice.objects.create(user=roommate, device=device)
    PaymentCardFactory(user=roommate, fingerprint="fp_roommate")
    order = OrderFactory(
        buyer=referral.friend, card=PaymentCardFactory(user=referral.friend, fingerprint="fp_roommate")
    )
    event(referral, order, "placed", T0)
    assert (referral.state, referral.reason_code) == (ReferralState.VOIDED, ReasonCode.SHARED_PAYMENT_METHOD)


def test_the_friends_own_new_card_is_fine():
    referral, order = referral_with_order()
    event(referral, order, "placed", T0)
    assert referral.state == ReferralState.ORDER_PLACED
    # A stranger who uses the same card only after the friend did is the newcomer, not the friend.
    later = order.card.first_used_at + timedelta(hours=1)
    PaymentCardFactory(user=UserFactory(), fingerprint=order.card.fingerprint, first_used_at=later)
    event(referral, order, "completed", T0 + timedelta(hours=1))
    assert referral.state == ReferralState.QUALIFIED
    checks = referral.signals["first_order"]["checks"]
    assert not any(checks[name] for name in checks)


def stranger_used_the_card_first(order):
    """Another account (no link to the referrer) that paid with the friend's card a month earlier."""
    earlier = order.card.first_used_at - timedelta(days=30)
    card = PaymentCardFactory(user=UserFactory(), fingerprint=order.card.fingerprint, first_used_at=earlier)
    return card.user


def test_a_card_another_account_used_first_voids_the_first_order_as_already_registered():
    referral, order = referral_with_order()
    stranger = stranger_used_the_card_first(order)
    event(referral, order, "placed", T0)
    assert (referral.state, referral.reason_code) == (ReferralState.VOIDED, ReasonCode.ALREADY_REGISTERED)
    assert (referral.first_order_id, referral.decided_at) == (order.pk, T0)
    decision = referral.signals["first_order"]
    assert (decision["outcome"], decision["reason_code"]) == ("voided", ReasonCode.ALREADY_REGISTERED)
    assert decision["strong"] == [ReasonCode.ALREADY_REGISTERED]
    assert decision["checks"]["card_used_before_by_another_account"] is True
    assert decision["checks"]["card_used_by_referrer"] is False
    assert decision["facts"]["card_accounts_before_friend"] == [stranger.pk]
    assert decision["facts"]["card_fingerprint"] == order.card.fingerprint[:12]
    assert f"#{stranger.pk}" in referral.events.last().note
    notice = Notification.objects.get(user=referral.referrer, kind="referral_voided")
    assert "already had an account" in notice.body
    # Completing it later changes nothing.
    event(referral, order, "completed", T0 + timedelta(hours=1))
    assert referral.state == ReferralState.VOIDED


def test_a_card_another_account_used_first_voids_at_completion_without_a_placed_event():
    referral, order = referral_with_order()
    stranger_used_the_card_first(order)
    with mock.patch("ops.services.outbox.publish_task") as publish:
        event(referral, order, "completed", T0)
    assert (referral.state, referral.reason_code) == (ReferralState.VOIDED, ReasonCode.ALREADY_REGISTERED)
    assert referral.completed_at == T0
    assert credit_referral(referral_id=referral.pk) == ReferralState.VOIDED
    publish.assert_not_called()
    assert not Coupon.objects.filter(referral=referral).exists()


def test_a_refund_heard_first_does_not_hide_a_card_another_account_used_first():
    referral, order = referral_with_order()
    event(referral, order, "refunded", T0 + timedelta(days=2))
    stranger_used_the_card_first(order)
    event(referral, order, "completed", T0)  # the refund came after completion, but the card still decides
    assert (referral.state, referral.reason_code) == (ReferralState.VOIDED, ReasonCode.ALREADY_REGISTERED)
    assert referral.completed_at == T0


def test_approving_a_review_still_applies_the_card_rules():
    staff = UserFactory(is_staff=True)
    referral, order = referral_with_order(state=ReferralState.UNDER_REVIEW, reason_code=ReasonCode.DISPOSABLE_EMAIL)
    stranger_used_the_card_first(order)
    event(referral, order, "completed", T0)
    assert referral.state == ReferralState.UNDER_REVIEW  # held: staff decide
    approve_review(referral=referral, actor=staff, note="Looks fine")
    referral.refresh_from_db()
    assert (referral.state, referral.reason_code) == (ReferralState.VOIDED, ReasonCode.ALREADY_REGISTERED)
    assert referral.signals["first_order"]["reason_code"] == ReasonCode.ALREADY_REGISTERED
    assert not Coupon.objects.filter(referral=referral).exists()


def test_shared_payment_method_voids_store_what_matched():
    referral = ReferralFactory()
    device = Device.objects.create(id_hash="dev-referrer")
    roommate = UserFactory()
    AccountDevice.objects.create(user=referral.referrer, device=device)
    AccountDevice.objects.create(user=roommate, device=device)
    PaymentCardFactory(user=referral.referrer, fingerprint="fp_household_card")
    PaymentCardFactory(user=roommate, fingerprint="fp_household_card")
    order = OrderFactory(
        buyer=referral.friend, card=PaymentCardFactory(user=referral.friend, fingerprint="fp_household_card")
    )
    event(referral, order, "completed", T0)
    assert (referral.state, referral.reason_code) == (ReferralState.VOIDED, ReasonCode.SHARED_PAYMENT_METHOD)
    decision = referral.signals["first_order"]
    assert decision["strong"][0] == ReasonCode.SHARED_PAYMENT_METHOD
    assert decision["checks"]["card_used_by_referrer"] is True
    assert decision["checks"]["card_used_on_referrers_devices"] is True
    assert decision["facts"]["card_accounts_on_referrer_devices"] == [roommate.pk]
    assert decision["facts"]["card_fingerprint"] == "fp_household"
    assert decision["facts"]["order"] == order.external_id
    note = referral.events.last().note
    assert "the referrer" in note and f"#{roommate.pk} on the referrer's device" in note


def test_sign_up_signals_are_kept_next_to_the_first_order_decision():
    referral, order = referral_with_order(signals={"strong": [], "medium": [], "weak": ["SHARED_IP"]})
    event(referral, order, "placed", T0)
    assert referral.signals["weak"] == ["SHARED_IP"]
    assert referral.signals["first_order"]["outcome"] == "allowed"


def test_completed_qualifies_with_the_reward_due_at_completion_and_enqueues_after_commit(
    django_capture_on_commit_callbacks,
):
    referral, order = referral_with_order()
    event(referral, order, "placed", T0)
    done = T0 + timedelta(hours=1)
    with mock.patch("ops.services.outbox.publish_task") as publish:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            event(referral, order, "completed", done)
        publish.assert_not_called()  # nothing is published before the commit
        for callback in callbacks:
            callback()
    publish.assert_called_once_with("referrals.tasks.credit_referral_task", [referral.pk])
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


def test_approval_issues_the_welcome_package(monkeypatch):
    staff = UserFactory(is_staff=True)
    referral, _ = referral_with_order(state=ReferralState.UNDER_REVIEW, reason_code=ReasonCode.IP_BURST)
    received = []
    monkeypatch.setattr(review, "issue_welcome_package", lambda *, referral: received.append(referral.pk) or [])
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


# --- Scenario 3 (docs/program-rules.md G6): completed and refunded in every order, with duplicates ----------

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


# --- docs/program-rules.md section 6: more than 3 qualified friends of one referrer in 24 h → review ----------


def friend_of(referrer, *, completed_at=None, state=ReferralState.QUALIFIED, **fields):
    """Another friend of `referrer` whose first order completed at `completed_at` (state as given)."""
    return ReferralFactory(referrer=referrer, state=state, completed_at=completed_at, **fields)


def complete(referral, order, at):
    with mock.patch("ops.services.outbox.publish_task"):
        event(referral, order, "completed", at)


def test_the_fourth_qualified_friend_in_24_hours_goes_to_review_with_its_signals():
    referral, order = referral_with_order()
    done = T0
    others = [
        friend_of(referral.referrer, completed_at=done - timedelta(hours=23), state=ReferralState.CREDITED),
        friend_of(
            referral.referrer,
            completed_at=done - timedelta(hours=3),
            state=ReferralState.CAPPED,
            reason_code=ReasonCode.MONTHLY_LIMIT,
        ),
        friend_of(referral.referrer, completed_at=done - timedelta(minutes=5)),
    ]
    with mock.patch("ops.services.outbox.publish_task") as publish:
        event(referral, order, "completed", done)
    publish.assert_not_called()
    assert (referral.state, referral.reason_code) == (ReferralState.UNDER_REVIEW, ReasonCode.REFERRER_BURST)
    assert referral.completed_at == done and referral.first_order_id == order.pk
    assert referral.credit_due_at is None
    assert referral.review_requested_at is not None and timezone.now() - referral.review_requested_at < timedelta(
        minutes=1
    )
    burst = referral.signals["first_order"]["facts"]["referrer_burst"]
    assert burst["other_qualified_friends"] == 3
    assert burst["other_referral_ids"] == sorted(o.pk for o in others)
    assert (burst["limit"], burst["window_hours"]) == (3, 24)
    assert referral.signals["first_order"]["medium"] == [ReasonCode.REFERRER_BURST]
    row = referral.events.last()
    assert (row.to_state, row.reason_code, row.occurred_at) == (ReferralState.UNDER_REVIEW, "REFERRER_BURST", done)
    assert all(f"#{o.pk}" in row.note for o in others)
    assert "3 other friend(s) of this referrer qualified within 24 hours" in row.note
    notice = Notification.objects.get(user=referral.referrer, kind="referral_review")
    assert "within 24 hours" in notice.body and "coupon follows" in notice.body
    # The sweep never credits it: a review never lapses into a reward.
    assert credit_referral(referral_id=referral.pk) == ReferralState.UNDER_REVIEW
    assert not Coupon.objects.filter(referral=referral).exists()


def test_the_third_qualified_friend_in_24_hours_qualifies_as_usual():
    referral, order = referral_with_order()
    friend_of(referral.referrer, completed_at=T0 - timedelta(hours=2))
    friend_of(referral.referrer, completed_at=T0 - timedelta(hours=1))
    friend_of(referral.referrer, completed_at=T0 - timedelta(hours=24))  # just outside the window
    complete(referral, order, T0)
    assert referral.state == ReferralState.QUALIFIED
    assert referral.signals["first_order"]["facts"]["referrer_burst"]["other_qualified_friends"] == 2


def test_friends_that_did_not_qualify_do_not_count_towards_a_burst():
    referral, order = referral_with_order()
    referrer = referral.referrer
    near = T0 - timedelta(hours=1)
    friend_of(referrer, completed_at=near)
    friend_of(referrer, completed_at=near, state=ReferralState.VOIDED, reason_code=ReasonCode.SHARED_PAYMENT_METHOD)
    friend_of(referrer, completed_at=near, state=ReferralState.REJECTED, reason_code=ReasonCode.SELF_REFERRAL)
    friend_of(referrer, completed_at=near, state=ReferralState.UNDER_REVIEW, reason_code=ReasonCode.IP_BURST)
    friend_of(referrer, completed_at=near, state=ReferralState.ORDER_PLACED)
    friend_of(UserFactory(), completed_at=near)  # another referrer's friends
    friend_of(UserFactory(), completed_at=near)
    friend_of(referrer, completed_at=near)
    complete(referral, order, T0)
    assert referral.state == ReferralState.QUALIFIED


def test_a_burst_is_found_whatever_order_the_completions_arrive_in():
    referral, order = referral_with_order()
    for hours in (1, 2, 3):  # they completed after this friend, but were heard of first
        friend_of(referral.referrer, completed_at=T0 + timedelta(hours=hours), state=ReferralState.CREDITED)
    complete(referral, order, T0)
    assert (referral.state, referral.reason_code) == (ReferralState.UNDER_REVIEW, ReasonCode.REFERRER_BURST)


def test_friends_held_for_a_burst_keep_counting_while_staff_decide():
    referral, order = referral_with_order()
    referrer = referral.referrer
    friend_of(referrer, completed_at=T0 - timedelta(hours=20))
    friend_of(referrer, completed_at=T0 - timedelta(hours=19))
    friend_of(
        referrer,
        completed_at=T0 - timedelta(hours=1),
        state=ReferralState.UNDER_REVIEW,
        reason_code=ReasonCode.REFERRER_BURST,
    )
    complete(referral, order, T0)
    assert referral.state == ReferralState.UNDER_REVIEW


def burst_review():
    referral, order = referral_with_order()
    for minutes in (30, 20, 10):
        friend_of(referral.referrer, completed_at=T0 - timedelta(minutes=minutes), state=ReferralState.CREDITED)
    complete(referral, order, T0)
    assert referral.state == ReferralState.UNDER_REVIEW
    return referral, order


def test_approving_a_burst_review_credits_the_reward():
    staff = UserFactory(is_staff=True)
    referral, _order = burst_review()
    approve_review(referral=referral, actor=staff, note="Office colleagues, checked")
    referral.refresh_from_db()
    assert referral.state == ReferralState.CREDITED
    assert Coupon.objects.filter(referral=referral, status=CouponStatus.ACTIVE).count() == 1
    approval = referral.events.get(from_state=ReferralState.UNDER_REVIEW)
    assert (approval.to_state, approval.reason_code, approval.actor) == (
        ReferralState.QUALIFIED,
        ReasonCode.STAFF_APPROVED,
        staff,
    )
    assert referral.signals["first_order"]["reason_code"] == ReasonCode.REFERRER_BURST  # the evidence stays


def test_rejecting_a_burst_review_rejects_the_referral():
    staff = UserFactory(is_staff=True)
    referral, _order = burst_review()
    reject_review(referral=referral, actor=staff, reason_code=ReasonCode.REFERRER_BURST, note="Sock puppets")
    referral.refresh_from_db()
    assert (referral.state, referral.reason_code) == (ReferralState.REJECTED, ReasonCode.REFERRER_BURST)
    assert not Coupon.objects.filter(referral=referral).exists()


def test_a_burst_review_waits_on_the_staff_dashboard_from_when_it_was_held():
    from support.dashboard import delays

    referral, _order = burst_review()
    Referral.objects.filter(pk=referral.pk).update(registered_at=timezone.now() - timedelta(days=20))
    now = timezone.now()
    assert delays(now=now + timedelta(hours=23))["stale_review_count"] == 0  # signed up long ago, held just now
    assert [r.pk for r in delays(now=now + timedelta(hours=25))["stale_reviews"]] == [referral.pk]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("attempt", range(3))
def test_concurrent_completions_of_one_referrers_friends_pass_at_most_three(attempt):
    from django.db import transaction

    from tests.concurrency import run_together

    referrer = UserFactory()
    pairs = [referral_with_order(referrer=referrer) for _ in range(8)]
    done = timezone.now() - timedelta(hours=1)

    def work(i: int):
        _referral, order = pairs[i]
        with transaction.atomic():  # the orders app's transaction
            pass_first_order_event(order=order, event="completed", occurred_at=done + timedelta(seconds=i))

    with mock.patch("ops.services.outbox.publish_task"):
        _results, errors = run_together(len(pairs), work)
    assert errors == []
    states = sorted(Referral.objects.filter(referrer=referrer).values_list("state", flat=True))
    assert states.count(ReferralState.QUALIFIED) == 3
    assert states.count(ReferralState.UNDER_REVIEW) == 5


# --- docs/program-rules.md section 3: capped is terminal -----------------------------------------------------------


def test_a_cancel_before_completion_leaves_a_capped_referral_capped():
    referral, order = referral_with_order()
    complete(referral, order, T0 + timedelta(hours=1))
    month = program_month(at=timezone.now(), time_zone="UTC")
    MonthlyRewardCounter.objects.create(referrer=referral.referrer, month=month, count=10)
    assert credit_referral(referral_id=referral.pk) == ReferralState.CAPPED
    referral.refresh_from_db()
    decided_at = referral.decided_at
    event(referral, order, "canceled", T0)  # happened before completion, heard after capping
    assert (referral.state, referral.reason_code) == (ReferralState.CAPPED, ReasonCode.MONTHLY_LIMIT)
    assert referral.decided_at == decided_at
    note = referral.events.get(from_state=ReferralState.CAPPED)
    assert (note.to_state, note.occurred_at) == (ReferralState.CAPPED, T0)
    assert "stays capped" in note.note
    assert not Notification.objects.filter(user=referral.referrer, kind="referral_voided").exists()
    # The same event again (or a later one) adds nothing.
    event(referral, order, "canceled", T0)
    event(referral, order, "refunded", T0 + timedelta(minutes=30))
    assert referral.events.filter(from_state=ReferralState.CAPPED).count() == 1
    assert referral.state == ReferralState.CAPPED


# --- docs/program-rules.md section 10: Diamond members' requests come first --------------------------------------


@pytest.mark.parametrize(("level", "priority"), [("diamond", 0), ("silver", 100)])
def test_a_reversal_case_has_the_referrers_support_priority(level, priority):
    from accounts.models import User

    referral, order = credited_referral()
    User.objects.filter(pk=referral.referrer_id).update(level=level)
    Coupon.objects.filter(referral=referral).update(status=CouponStatus.USED, used_at=timezone.now())
    event(referral, order, "refunded", T0 + timedelta(minutes=1))
    case = SupportRequest.objects.get(referral=referral, kind=SupportRequest.Kind.REWARD_REVERSAL)
    assert case.priority == priority
