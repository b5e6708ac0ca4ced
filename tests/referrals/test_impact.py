"""Impact before a cancel or refund (docs/program-rules.md section 3): the friend reads what canceling or refunding
their first order does to the invitation before confirming; the referrer's card says it while the order is
pending."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from flows import orders as order_flows
from referrals.reasons import ReasonCode, ReferralState
from referrals.selectors.impact import first_order_impact
from tests.factories import OrderFactory, ReferralFactory, UserFactory
from tests.referrals.helpers import event

pytestmark = pytest.mark.django_db

IMPACT = (
    "This is your first order since you joined with an invitation. If you cancel it, or it is refunded "
    "before it is completed, your friend&#x27;s reward will not be given."
)
CARD_IMPACT = (
    "If your friend cancels this order or gets it refunded before it is completed, your reward will not be given."
)


def _friend_with_first_order():
    referral = ReferralFactory()
    order = OrderFactory(buyer=referral.friend)
    event(referral, order, "placed")
    assert referral.state == ReferralState.ORDER_PLACED
    return referral, order


def test_order_page_warns_the_friend_before_cancel_and_the_cancel_does_what_it_said(client):
    referral, order = _friend_with_first_order()
    client.force_login(referral.friend)
    page = client.get(reverse("orders:detail", args=[order.external_id])).content.decode()
    assert IMPACT in page
    assert f'data-confirm="{IMPACT} Cancel this order?"' in page

    client.post(reverse("orders:action", args=[order.external_id, "cancel"]))
    referral.refresh_from_db()
    assert (referral.state, referral.reason_code) == (ReferralState.VOIDED, ReasonCode.FIRST_ORDER_CANCELED)


def test_refund_of_a_paid_first_order_is_warned_too(client):
    referral, order = _friend_with_first_order()
    order_flows.pay(order=order)
    client.force_login(referral.friend)
    page = client.get(reverse("orders:detail", args=[order.external_id])).content.decode()
    assert f'data-confirm="{IMPACT} Request a refund for this order?"' in page


def test_completed_first_order_says_nothing_a_refund_after_completion_changes_nothing(client):
    referral, order = _friend_with_first_order()
    event(referral, order, "completed")
    order.completed_at = timezone.now()
    order.save(update_fields=["completed_at"])
    assert first_order_impact(order=order) == ""


def test_a_later_order_or_a_member_without_invitation_reads_nothing():
    referral, _first = _friend_with_first_order()
    later = OrderFactory(buyer=referral.friend, is_first=False)
    assert first_order_impact(order=later) == ""
    assert first_order_impact(order=OrderFactory(buyer=UserFactory())) == ""


def test_an_invitation_already_ended_reads_nothing():
    referral, order = _friend_with_first_order()
    event(referral, order, "canceled")
    assert referral.state == ReferralState.VOIDED
    assert first_order_impact(order=order) == ""


def test_referrers_card_says_it_while_the_first_order_is_pending(client):
    referral, order = _friend_with_first_order()
    client.force_login(referral.referrer)
    assert CARD_IMPACT in client.get(reverse("referrals:invite")).content.decode()
    event(referral, order, "completed")
    assert CARD_IMPACT not in client.get(reverse("referrals:invite")).content.decode()
