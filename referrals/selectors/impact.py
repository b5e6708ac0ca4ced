"""What canceling or refunding a friend's first order would do to the invitation (docs/program-rules.md section 3):
said on the order page before the friend confirms, and on the referrer's card while the first order is pending."""

from __future__ import annotations

from django.utils.translation import gettext

from orders.models import Order
from referrals.models import Referral
from referrals.reasons import ReferralState

# While the first order's outcome is open, a cancel or a refund before completion voids the referral.
_OPEN = (ReferralState.REGISTERED, ReferralState.ORDER_PLACED, ReferralState.UNDER_REVIEW)


def first_order_impact(*, order: Order) -> str:
    """The sentence the buyer reads before canceling or refunding `order`; "" when it changes nothing.

    Only the buyer's first order, before it completes, while the referral's outcome is still open: a refund
    after completion changes nothing, and a later order never counted.
    """
    if order.completed_at is not None or not order.is_first:
        return ""
    referral = Referral.objects.filter(friend_id=order.buyer_id).only("state", "first_order_id", "completed_at").first()
    if referral is None or referral.state not in _OPEN or referral.completed_at is not None:
        return ""
    if referral.first_order_id not in (None, order.pk):
        return ""
    return gettext(
        "This is your first order since you joined with an invitation. If you cancel it, or it is refunded "
        "before it is completed, your friend's reward will not be given."
    )
