"""Which order is the friend's first, and the first-order rules applied to it (docs/program-rules.md section 3).

Only the first order counts, and "first" means placed first, not heard of first: an earlier order heard of
later takes the first order's place while the referral's outcome is open (`replace_first_order`). The card
rules (and, at completion, the referrer's bursts) are decided by `referrals.eligibility.decide_first_order`
on facts read here; the decision and what it read are kept under `Referral.signals["first_order"]`.
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from lib import sqlonce
from orders.models import Order
from referrals.eligibility import Decision, decide_first_order
from referrals.models import Referral
from referrals.reasons import ReasonCode, ReferralState
from referrals.selectors.facts import first_order_facts
from referrals.services.timeline import record_note

# Before the first order's outcome: a first order may still be replaced, and its placed event still decides.
BEFORE_ORDER = (ReferralState.REGISTERED, ReferralState.ORDER_PLACED)


def _utc(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"


def replace_first_order(*, old: Order, new: Order) -> bool:
    """May `new`, placed before the buyer's first order `old` but heard of later, take its place? Once per order.

    Only the earliest order counts (docs/program-rules.md section 3: when it happened, not when we heard of it),
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


def _lock_member(pk: int):
    return get_user_model().objects.select_for_update().filter(pk=pk).values_list("pk")


def check_first_order(*, referral: Referral, order: Order, completed_at: datetime | None = None) -> Decision:
    """The first-order rules (card links; at completion also referrer bursts) applied to today's facts.

    At completion the referrer's row is locked first: two friends of one referrer
    completing at once are decided one after the other, so each counts the other
    (the lock is held only until the order event's transaction commits).
    """
    if completed_at is not None:
        sqlonce.rows(_lock_member, referral.referrer_id)
    return decide_first_order(first_order_facts(referral=referral, order=order, completed_at=completed_at))


def with_first_order_signals(referral: Referral, decision: Decision) -> dict:
    """The referral's signals with this first-order decision under "first_order" (sign-up signals kept)."""
    return {
        **(referral.signals or {}),
        "first_order": {**decision.signals, "checked_at": timezone.now().isoformat()},
    }


def first_order_void_note(order: Order, decision: Decision) -> str:
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
