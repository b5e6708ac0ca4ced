"""The referral side of the friend's first order: placed → qualified, or voided, or a reward reversed.

Order events arrive at least once, late and in any order. What counts is when
each thing happened (`occurred_at`): a cancel or refund that happened before
completion voids the referral (and takes back a reward already issued); one
that happened after completion changes nothing.

While the referral is still before its first order's outcome, each placed and
completed event applies the first-order rules (`referrals.eligibility.decide_first_order`):
a card linked to the referrer or used first by another account voids it, and at
completion a burst of the referrer's qualified friends holds it for review. The
decision and what it read are stored under `Referral.signals["first_order"]`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, TypedDict

from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from coupons.models import Coupon
from coupons.services import reverse_reward_coupon
from lib import sqlonce
from orders.models import Order
from referrals.eligibility import UNDER_REVIEW, VOIDED
from referrals.models import Referral
from referrals.program import REFERRER_BURST_WINDOW, hours_text
from referrals.reasons import ReasonCode, ReferralState
from referrals.services.crediting import release_monthly_slot
from referrals.services.first_order import (
    BEFORE_ORDER,
    check_first_order,
    first_order_void_note,
    with_first_order_signals,
)
from referrals.services.milestones import reverse_milestones
from referrals.services.notices import notify_ended, notify_held_for_review
from referrals.services.timeline import record_note, transition

logger = logging.getLogger(__name__)

EVENTS = frozenset({"placed", "paid", "shipped", "completed", "canceled", "refunded"})
ENDING_REASONS = {"canceled": ReasonCode.FIRST_ORDER_CANCELED, "refunded": ReasonCode.FIRST_ORDER_REFUNDED}
# A human decides these; order facts are stored so an approval can continue from them.
HELD = (ReferralState.UNDER_REVIEW, ReferralState.REJECTED)


@dataclass(frozen=True)
class SpentReward:
    """A reward to take back whose coupon was already spent: support decides (a reversal case). `coupon` is the
    reward coupon, or a milestone bonus it reached; `also_spent` the spent milestone bonuses beside it."""

    referral: Referral
    coupon: Coupon
    order: Order
    event: str
    occurred_at: datetime
    also_spent: tuple[Coupon, ...] = ()


@dataclass
class FirstOrderOutcome:
    """What one first-order event did to the friend's referral, and what the caller must do next:
    `credit_due` — it just qualified (enqueue its credit after commit); `spent_reward` — open a reversal case."""

    referral: Referral | None = None
    credit_due: bool = False
    spent_reward: SpentReward | None = None


def _friend_referral_locked(friend_id: int):
    # At most one referral per friend. Its referrer and friend are read only when a notice needs them.
    return Referral.objects.select_for_update().filter(friend_id=friend_id)


def record_first_order_event(*, order: Order, event: str, occurred_at: datetime) -> FirstOrderOutcome:
    """Apply one event of a buyer's first order to the friend's referral; idempotent and order-independent.

    Runs inside the caller's transaction (flows.orders), which then enqueues the credit after commit
    and opens a reversal case when the outcome asks for it.
    """
    if event not in EVENTS:
        raise ValueError(f"unknown order event {event!r}")
    if timezone.is_naive(occurred_at):
        raise ValueError("occurred_at must be timezone-aware")
    outcome = FirstOrderOutcome()
    # No savepoint: nothing here is meant to fail alone (an error ends the caller's transaction).
    with transaction.atomic(savepoint=False):
        found = sqlonce.instances(_friend_referral_locked, order.buyer_id)
        referral = found[0] if found else None
        outcome.referral = referral
        if referral is None:
            return outcome
        if referral.first_order_id and referral.first_order_id != order.pk:
            logger.warning("referral %s: ignoring %s of order %s (not the first order)", referral.pk, event, order.pk)
            return outcome
        if event == "completed":
            _on_completed(referral, order, occurred_at, outcome)
        elif event in ENDING_REASONS:
            _on_ended(referral, order, event, occurred_at, outcome)
        else:
            _on_progress(referral, order, event, occurred_at)
        return outcome


def _store_facts(referral: Referral, **facts) -> None:
    """Record order facts that are not known yet (first writer wins), without changing state."""
    missing = {}
    for name, value in facts.items():
        current = referral.first_order_id if name == "first_order" else getattr(referral, name)
        if current is None:
            missing[name] = value
    if not missing:
        return
    Referral.objects.filter(pk=referral.pk).update(**missing, updated_at=timezone.now())
    for name, value in missing.items():
        setattr(referral, name, value)


def _order_facts(referral: Referral) -> dict:
    return dict((referral.signals or {}).get("order_facts") or {})


def _remember_end(referral: Referral, event: str, occurred_at: datetime) -> bool:
    """Keep the earliest cancel/refund of the first order in the referral's signals (for reviews and reopens).

    Returns whether this event is the earliest one known (False for a repeat or a later one).
    """
    facts = _order_facts(referral)
    known = parse_datetime(facts["ended_at"]) if facts.get("ended_at") else None
    if known is not None and known <= occurred_at:
        return False
    facts.update(ended_event=event, ended_at=occurred_at.isoformat())
    signals = {**(referral.signals or {}), "order_facts": facts}
    Referral.objects.filter(pk=referral.pk).update(signals=signals)
    referral.signals = signals
    return True


def ended_before_completion(referral: Referral) -> tuple[str, datetime] | None:
    """(event, when) of a cancel/refund that happened before completion (or with no completion known)."""
    facts = _order_facts(referral)
    if not facts.get("ended_at"):
        return None
    ended_at = parse_datetime(facts["ended_at"])
    # ended_at is only ever written by _remember_end, as occurred_at.isoformat(), so it always parses.
    assert ended_at is not None
    if referral.completed_at is not None and ended_at >= referral.completed_at:
        return None
    return facts["ended_event"], ended_at


def _void(referral: Referral, *, reason_code: str, occurred_at: datetime, from_states, note: str, **fields) -> bool:
    moved = transition(
        referral=referral,
        to_state=ReferralState.VOIDED,
        from_states=from_states,
        reason_code=reason_code,
        occurred_at=occurred_at,
        note=note,
        **fields,
    )
    if moved:
        notify_ended(referral=referral, reason_code=reason_code)
    return moved


def _on_progress(referral: Referral, order: Order, event: str, occurred_at: datetime) -> None:
    placed_at = occurred_at if event == "placed" else order.placed_at or occurred_at
    if referral.state not in BEFORE_ORDER:
        _store_facts(referral, first_order=order, order_placed_at=placed_at)
        return
    decision = check_first_order(referral=referral, order=order)
    if decision.outcome == VOIDED:
        _void(
            referral,
            reason_code=decision.reason_code,
            occurred_at=occurred_at,
            from_states=BEFORE_ORDER,
            note=first_order_void_note(order, decision),
            first_order=order,
            order_placed_at=referral.order_placed_at or placed_at,
            signals=with_first_order_signals(referral, decision),
        )
        return
    if referral.state == ReferralState.REGISTERED:
        transition(
            referral=referral,
            to_state=ReferralState.ORDER_PLACED,
            from_states=[ReferralState.REGISTERED],
            occurred_at=placed_at,
            note=f"First order {order.external_id} placed.",
            first_order=order,
            order_placed_at=placed_at,
            signals=with_first_order_signals(referral, decision),
        )
    else:
        _store_facts(referral, first_order=order, order_placed_at=placed_at)
        if referral.first_order_id == order.pk and "first_order" not in (referral.signals or {}):
            # A first order replaced by an earlier one (`replace_first_order`): keep the new decision's evidence.
            signals = with_first_order_signals(referral, decision)
            Referral.objects.filter(pk=referral.pk).update(signals=signals)
            referral.signals = signals


def _on_completed(referral: Referral, order: Order, occurred_at: datetime, outcome: FirstOrderOutcome) -> None:
    placed_at = referral.order_placed_at or order.placed_at or occurred_at
    state = referral.state
    if state in BEFORE_ORDER:
        _decide_completion(referral, order, occurred_at, outcome, from_states=BEFORE_ORDER, placed_at=placed_at)
        return
    if state == ReferralState.VOIDED and referral.completed_at is None:
        ended = _order_facts(referral)
        ended_at = parse_datetime(ended["ended_at"]) if ended.get("ended_at") else None
        if ended_at is not None and occurred_at <= ended_at and referral.reason_code in ENDING_REASONS.values():
            # The cancel/refund we heard of first actually happened after completion:
            # a refund after completion changes nothing, so the referral is decided as any completion is.
            _decide_completion(
                referral,
                order,
                occurred_at,
                outcome,
                from_states=[ReferralState.VOIDED],
                placed_at=placed_at,
                note=(
                    f"First order {order.external_id} completed at {occurred_at:%Y-%m-%d %H:%M:%S} UTC, before its "
                    f"{ended['ended_event']} at {ended_at:%Y-%m-%d %H:%M:%S} UTC: the reward is due after all."
                ),
            )
            if referral.state == ReferralState.QUALIFIED:
                Referral.objects.filter(pk=referral.pk).update(reason_code="")
                referral.reason_code = ""
            return
    _store_facts(referral, first_order=order, order_placed_at=placed_at, completed_at=occurred_at)


class _CompletionFields(TypedDict):
    """The Referral columns a first-order completion sets, whatever the outcome."""

    first_order: Order
    order_placed_at: datetime
    completed_at: datetime
    signals: dict[str, Any]


def _decide_completion(
    referral: Referral,
    order: Order,
    occurred_at: datetime,
    outcome: FirstOrderOutcome,
    *,
    from_states,
    placed_at: datetime,
    note: str = "",
) -> None:
    """Qualification: voided on a strong first-order signal, under review on a referrer burst, else qualified."""
    decision = check_first_order(referral=referral, order=order, completed_at=occurred_at)
    order_facts: _CompletionFields = {
        "first_order": order,
        "order_placed_at": placed_at,
        "completed_at": occurred_at,
        "signals": with_first_order_signals(referral, decision),
    }
    if decision.outcome == VOIDED:
        _void(
            referral,
            reason_code=decision.reason_code,
            occurred_at=occurred_at,
            from_states=from_states,
            note=first_order_void_note(order, decision),
            **order_facts,
        )
        return
    if decision.outcome == UNDER_REVIEW:
        burst = decision.signals["facts"]["referrer_burst"]
        moved = transition(
            referral=referral,
            to_state=ReferralState.UNDER_REVIEW,
            from_states=from_states,
            reason_code=decision.reason_code,
            occurred_at=occurred_at,
            note=(
                f"First order {order.external_id} completed; held for review: "
                f"{burst['other_qualified_friends']} other friend(s) of this referrer qualified "
                f"within {hours_text(REFERRER_BURST_WINDOW)} "
                f"(referrals {', '.join(f'#{pk}' for pk in burst['other_referral_ids'])})."
            ),
            # The review queue and the 24-hour dashboard alert count from now, not from the sign-up.
            review_requested_at=timezone.now(),
            decided_at=None,
            **order_facts,
        )
        if moved:
            notify_held_for_review(referral=referral, reason_code=decision.reason_code)
        return
    moved = transition(
        referral=referral,
        to_state=ReferralState.QUALIFIED,
        from_states=from_states,
        occurred_at=occurred_at,
        note=note or f"First order {order.external_id} completed; reward due.",
        # Due at once; the 24-hour promise is measured from completion.
        credit_due_at=occurred_at,
        decided_at=None,
        **order_facts,
    )
    outcome.credit_due = moved


def _on_ended(referral: Referral, order: Order, event: str, occurred_at: datetime, outcome: FirstOrderOutcome) -> None:
    reason_code = ENDING_REASONS[event]
    placed_at = referral.order_placed_at or order.placed_at or occurred_at
    earliest = _remember_end(referral, event, occurred_at)
    if referral.completed_at is not None and occurred_at >= referral.completed_at:
        return  # after completion: changes nothing
    state = referral.state
    if state == ReferralState.CAPPED:
        # Capped is final (no reward was issued, no monthly slot taken): only the timeline learns of it, once.
        if earliest:
            record_note(
                referral=referral,
                occurred_at=occurred_at,
                note=(
                    f"First order {order.external_id} was {event} at {occurred_at:%Y-%m-%d %H:%M:%S} UTC, before "
                    "its completion. The referral stays capped (final); no reward was issued for it."
                ),
            )
        return
    if state in (*BEFORE_ORDER, ReferralState.QUALIFIED):
        _void(
            referral,
            reason_code=reason_code,
            occurred_at=occurred_at,
            from_states=[state],
            note=f"First order {order.external_id} {event} before completion.",
            first_order=order,
            order_placed_at=placed_at,
        )
    elif state == ReferralState.CREDITED:
        _reverse_reward(referral, order, event, occurred_at, outcome)
    elif state in HELD:
        _store_facts(referral, first_order=order, order_placed_at=placed_at)


def _reverse_reward(
    referral: Referral, order: Order, event: str, occurred_at: datetime, outcome: FirstOrderOutcome
) -> None:
    """A reward issued for an order that was canceled/refunded before completion is taken back, once."""
    reason_code = ENDING_REASONS[event]
    was_manual = referral.reason_code == ReasonCode.MANUAL_CREDIT
    credited_at = referral.credited_at
    now = timezone.now()
    moved = transition(
        referral=referral,
        to_state=ReferralState.VOIDED,
        from_states=[ReferralState.CREDITED],
        reason_code=reason_code,
        occurred_at=now,
        note=(
            f"Reward reversed: first order {order.external_id} was {event} at {occurred_at:%Y-%m-%d %H:%M:%S} UTC, "
            f"before its completion at {referral.completed_at:%Y-%m-%d %H:%M:%S} UTC."
        ),
        decided_at=now,
    )
    if not moved:
        return
    referral.credited_at = credited_at  # the slot to give back is the crediting month's
    extra = ""
    coupon = Coupon.objects.select_for_update().filter(referral_id=referral.pk).first()
    if coupon is not None:
        reason = f"{ReasonCode.REWARD_REVERSED}: first order {event} before completion"
        if reverse_reward_coupon(coupon=coupon, referral=referral, reason=reason):
            extra = "The reward coupon has been withdrawn from My Coupons."
        elif coupon.status == "used":
            outcome.spent_reward = SpentReward(
                referral=referral, coupon=coupon, order=order, event=event, occurred_at=occurred_at
            )
            extra = "The reward coupon had already been used; our support team will contact you."
    if credited_at is not None:  # the milestone bonuses this reward reached go with it
        milestones = reverse_milestones(referral=referral, credited_at=credited_at, reason=f"{reason_code}: milestone")
        extra += " The milestone bonus it reached is withdrawn too." if milestones.withdrawn else ""
        if milestones.spent and outcome.spent_reward is not None:
            outcome.spent_reward = replace(outcome.spent_reward, also_spent=milestones.spent)
        elif milestones.spent:
            first, *rest = milestones.spent
            spent = SpentReward(referral, first, order, event, occurred_at, also_spent=tuple(rest))
            outcome.spent_reward, extra = (
                spent,
                f"{extra} Its milestone bonus was already used; support will contact you.",
            )
    if not was_manual:
        release_monthly_slot(referral=referral)
    notify_ended(referral=referral, reason_code=reason_code, extra=extra.strip())
    logger.info("referral %s: reward reversed (%s before completion)", referral.pk, event)
