"""Shared set-up for the crediting tests: a friend's referral and the order events it receives."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from referrals.services.lifecycle import record_first_order_event
from tests.factories import CreditingReferralFactory, OrderFactory


def referral_with_order(**referral_fields):
    referral = CreditingReferralFactory(**referral_fields)
    order = OrderFactory(buyer=referral.friend)
    return referral, order


def event(referral, order, name: str, at: datetime | None = None):
    result = record_first_order_event(order=order, event=name, occurred_at=at or timezone.now())
    referral.refresh_from_db()
    return result
