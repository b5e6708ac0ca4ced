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
from datetime import UTC, datetime

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.levels import support_priority_for
from coupons.models import Coupon
from coupons.services import reverse_reward_coupon
from referrals.eligibility import UNDER_REVIEW, VOIDED, Decision, decide_first_order
from referrals.models import Referral
from referrals.reasons import ReasonCode, ReferralState
from referrals.selectors import first_order_facts
from referrals.services.crediting import release_monthly_slot
from referrals.services.notices import notify_ended, notify_held_for_review
from referrals.services.timeline import record_note, transition

logger = logging.getLogger(__name__)

EVENTS = frozenset({"placed", "paid", "shipped", "completed", "canceled", "refunded"})
ENDING_REASONS = {"canceled": ReasonCode.FIRST_ORDER_CANCELED, "refunded": ReasonCode.FIRST_ORDER_REFUNDED}
BEFORE_ORDER = (ReferralState.REGISTERED, ReferralState.ORDER_PLACED)
# A human decides these; order facts are stored so an approval can continue from them.
HELD = (ReferralState.UNDER_REVIEW, ReferralState.REJECTED)


def record_first_order_event(*, order, event: str, occurred_at: datetime) -> Referral | None:
    """Apply one event of a buyer's first order to the friend's referral; idempotent and order-independent.

    Runs inside the caller's transaction; the credit task is enqueued only
    after commit, and a broker outage never raises here (the sweep heals it).
    """
    if event not in EVENTS:
        raise ValueError(f"unknown order event {event!r}")
    if timezone.is_naive(occurred_at):
        raise ValueError("occurred_at must be timezone-aware")
    with transaction.atomic():
        referral = (
            Referral.objects.select_for_update(of=("self",))
            .select_related("referrer", "friend")
            .filter(friend_id=order.buyer_id)
            .first()
        )
        if referral is None:
            return None
        if referral.first_order_id and referral.first_order_id != order.pk:
            logger.warning("referral %s: ignoring %s of order %s (not the first order)", referral.pk, event, order.pk)
            return referral
        if event == "completed":
            _on_completed(referral, order, occurred_at)
        elif event in ENDING_REASONS:
            _on_ended(referral, order, event, occurred_at)
        else:
            _on_progress(referral, order, event, occurred_at)
        return referral


def _utc(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"


def replace_first_order(*, old, new) -> bool:
    """May `new`, placed before the buyer's first order `old` but heard of later, take its place? Once per order.

    Only the earliest order counts (PROGRAM_RULES.md section 3: when it happened, not when we heard of it),
    as long as the referral's outcome is open (registered / order_placed, or a sign-up review that no completion
    has reached): then `old`'s facts are cleared here
    and the caller passes `new`'s placed event as for any first order, so the card rules apply to `new`.
    Once the outcome is final or held for a human, `old` stays the first order and the timeline says why,
    for staff. No referral: True. Runs inside the caller's transaction (the caller holds `old`'s row lock).
    """
    with transaction.atomic():
        referral = Referral.objects.select_for_update(of=("self",)).filter(friend_id=new.buyer_id).first()
        if referral is None:
            return True
        now = timezone.now()
        heard = (
            f"Order {new.external_id} was placed at {_utc(new.placed_at)}, before first order {old.external_id} "
            f"(placed at {_utc(old.placed_at)}), but its event arrived later."
        )
        # Open outcome: before the first order's result, or held for a sign-up review that no completion reached yet.
        is_open = referral.state in BEFORE_ORDER or (
            referral.state == ReferralState.UNDER_REVIEW and referral.completed_at is None
        )
        allowed = is_open and referral.first_order_id in (None, old.pk)
        if not allowed:
            state = referral.get_state_display()
            note = f"{heard} The referral is already {state}, so {old.external_id} stays the first order."
            signals = referral.signals
        else:
            note = f"{heard} {new.external_id} is now the first order; events of {old.external_id} no longer count."
            # The old order's first-order decision goes with it; `new`'s placed event decides again.
            signals = {k: v for k, v in (referral.signals or {}).items() if k not in ("first_order", "order_facts")}
            referral.first_order, referral.order_placed_at, referral.signals = None, None, signals
        Referral.objects.filter(pk=referral.pk).update(
            first_order=referral.first_order, order_placed_at=referral.order_placed_at, signals=signals, updated_at=now
        )
        record_note(referral=referral, occurred_at=now, note=note)
        return allowed


def check_first_order(*, referral: Referral, order, completed_at: datetime | None = None) -> Decision:
    """The first-order rules (card links; at completion also referrer bursts) applied to today's facts.

    At completion the referrer's row is locked first: two friends of one referrer
    completing at once are decided one after the other, so each counts the other
    (the lock is held only until the order event's transaction commits).
    """
    if completed_at is not None:
        get_user_model().objects.select_for_update().filter(pk=referral.referrer_id).values_list("pk").first()
    return decide_first_order(first_order_facts(referral=referral, order=order, completed_at=completed_at))


def with_first_order_signals(referral: Referral, decision: Decision) -> dict:
    """The referral's signals with this first-order decision under "first_order" (sign-up signals kept)."""
    return {
        **(referral.signals or {}),
        "first_order": {**decision.signals, "checked_at": timezone.now().isoformat()},
    }


def first_order_void_note(order, decision: Decision) -> str:
    """The timeline note of a strong first-order signal, naming what matched (for staff)."""
    facts, checks = decision.signals["facts"], decision.signals["checks"]
    card = f"card {facts['card_fingerprint']}…"
    if decision.reason_code == ReasonCode.SHARED_PAYMENT_METHOD:
        matched = []
        if checks["card_used_by_referrer"]:
            matched.append("the referrer")
        if facts["card_accounts_on_referrer_devices"]:
            ids = ", ".join(f"#{pk}" for pk in facts["card_accounts_on_referrer_devices"])
            matched.append(f"account {ids} on the referrer's device")
        used_by = " and ".join(matched)
        return f"Order {order.external_id} paid with a card linked to the referrer ({card} used by {used_by})."
    ids = ", ".join(f"#{pk}" for pk in facts["card_accounts_before_friend"])
    return (
        f"Order {order.external_id} paid with {card}, used by account {ids} before the friend: "
        "the friend is not a new member."
    )


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


def _enqueue_credit(referral: Referral) -> None:
    from referrals.tasks import credit_referral_task

    credit_referral_task.delay_on_commit(referral.pk)


def _on_progress(referral: Referral, order, event: str, occurred_at: datetime) -> None:
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


def _on_completed(referral: Referral, order, occurred_at: datetime) -> None:
    placed_at = referral.order_placed_at or order.placed_at or occurred_at
    state = referral.state
    if state in BEFORE_ORDER:
        _decide_completion(referral, order, occurred_at, from_states=BEFORE_ORDER, placed_at=placed_at)
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


def _decide_completion(
    referral: Referral,
    order,
    occurred_at: datetime,
    *,
    from_states,
    placed_at: datetime,
    note: str = "",
) -> None:
    """Qualification: voided on a strong first-order signal, under review on a referrer burst, else qualified."""
    decision = check_first_order(referral=referral, order=order, completed_at=occurred_at)
    order_facts = {
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
                f"{burst['other_qualified_friends']} other friend(s) of this referrer qualified within 24 hours "
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
    if moved:
        _enqueue_credit(referral)


def _on_ended(referral: Referral, order, event: str, occurred_at: datetime) -> None:
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
        _reverse_reward(referral, order, event, occurred_at)
    elif state in HELD:
        _store_facts(referral, first_order=order, order_placed_at=placed_at)


def _reverse_reward(referral: Referral, order, event: str, occurred_at: datetime) -> None:
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
            _open_reversal_case(referral, coupon, order, event, occurred_at)
            extra = "The reward coupon had already been used; our support team will contact you."
    if not was_manual:
        release_monthly_slot(referral=referral)
    notify_ended(referral=referral, reason_code=reason_code, extra=extra)
    logger.info("referral %s: reward reversed (%s before completion)", referral.pk, event)


def _open_reversal_case(referral: Referral, coupon: Coupon, order, event: str, occurred_at: datetime) -> None:
    from support.models import SupportRequest

    try:
        with transaction.atomic():
            SupportRequest.objects.create(
                member=referral.referrer,
                referral=referral,
                kind=SupportRequest.Kind.REWARD_REVERSAL,
                message=(
                    f"Referral reward coupon #{coupon.pk} was already used, but the friend's first order "
                    f"{order.external_id} was {event} before completion. Decide whether to recover the value."
                ),
                # Diamond members' requests come first, whoever opened them (PROGRAM_RULES.md section 10).
                priority=support_priority_for(user=referral.referrer),
                evidence={
                    "coupon_id": coupon.pk,
                    "coupon_value": str(coupon.value),
                    "currency": coupon.currency,
                    "used_order_id": coupon.used_order_id,
                    "first_order": order.external_id,
                    "event": event,
                    "event_occurred_at": occurred_at.isoformat(),
                    "completed_at": referral.completed_at.isoformat() if referral.completed_at else None,
                    "credited_at": referral.credited_at.isoformat() if referral.credited_at else None,
                },
            )
    except IntegrityError:
        logger.info("referral %s: a reversal case is already open", referral.pk)
