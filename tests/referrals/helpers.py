"""Shared set-up for the crediting tests: a friend's referral and the order events it receives."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from flows.orders import pass_first_order_event
from tests.factories import OrderFactory, ReferralFactory


def referral_with_order(**referral_fields):
    referral = ReferralFactory(**referral_fields)
    order = OrderFactory(buyer=referral.friend)
    return referral, order


def event(referral, order, name: str, at: datetime | None = None):
    # Through the flow the orders app's changes go through: it also enqueues the credit, or opens a case.
    result = pass_first_order_event(order=order, event=name, occurred_at=at or timezone.now())
    referral.refresh_from_db()
    return result
