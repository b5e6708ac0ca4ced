"""Reversal cases: a reward to take back whose coupon was already spent goes to support (program rules 3)."""

from __future__ import annotations

import logging

from django.db import IntegrityError, transaction

from accounts.levels import support_priority_for
from referrals.services.lifecycle import SpentReward
from support.models import SupportRequest

logger = logging.getLogger(__name__)


def open_reversal_case(*, spent: SpentReward) -> SupportRequest | None:
    """Open one reward-reversal case per referral, with its evidence; an open case already there: None."""
    referral, coupon, order = spent.referral, spent.coupon, spent.order
    kind = "Milestone bonus" if coupon.source == "milestone" else "Referral reward"
    also = "".join(f" (and milestone bonus #{c.pk})" for c in spent.also_spent)
    try:
        with transaction.atomic():
            return SupportRequest.objects.create(
                member=referral.referrer,
                referral=referral,
                kind=SupportRequest.Kind.REWARD_REVERSAL,
                message=(
                    f"{kind} coupon #{coupon.pk}{also} was already used, but the friend's first order "
                    f"{order.external_id} was {spent.event} before completion. Decide whether to recover the value."
                ),
                # Diamond members' requests come first, whoever opened them (docs/program-rules.md section 10).
                priority=support_priority_for(member=referral.referrer),
                evidence={
                    "coupon_id": coupon.pk,
                    "coupon_value": str(coupon.value),
                    "currency": coupon.currency,
                    "used_order_id": coupon.used_order_id,
                    "first_order": order.external_id,
                    "event": spent.event,
                    "event_occurred_at": spent.occurred_at.isoformat(),
                    "completed_at": referral.completed_at.isoformat() if referral.completed_at else None,
                    "credited_at": referral.credited_at.isoformat() if referral.credited_at else None,
                    # Milestone bonuses the reward reached, spent too (docs/program-rules.md section 3, milestones).
                    "also_spent_coupon_ids": [c.pk for c in spent.also_spent],
                },
            )
    except IntegrityError:
        logger.info("referral %s: a reversal case is already open", referral.pk)
        return None
