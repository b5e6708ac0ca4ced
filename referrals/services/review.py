"""Staff decisions on referrals under review: approve (continue from the stored order facts) or reject."""

from __future__ import annotations

from typing import TypedDict

from django.db import transaction

from accounts.models import User
from lib.errors import DomainError
from referrals.eligibility import VOIDED
from referrals.models import Referral, ReferralEvent
from referrals.reasons import ReasonCode, ReferralState
from referrals.selectors.friend import review_opened_at_signup
from referrals.services.crediting import credit_locked_referral
from referrals.services.first_order import check_first_order, first_order_void_note, with_first_order_signals
from referrals.services.lifecycle import ENDING_REASONS, ended_before_completion
from referrals.services.notices import notify_ended, notify_friend_not_applied, notify_friend_welcome_ready
from referrals.services.signup import issue_welcome_package
from referrals.services.timeline import transition


class ReviewError(DomainError):
    """The review decision cannot be applied (the message says why)."""

    code = "REVIEW_REFUSED"


class _StaffActor(TypedDict):
    """Who a review decision's timeline row is by (`transition`'s actor arguments)."""

    actor: User | None
    actor_kind: str


def _lock_under_review(referral: Referral, actor: User | None) -> Referral:
    if actor is None or not actor.is_staff:
        raise ReviewError("Only staff can decide a review.")
    locked = (
        Referral.objects.select_for_update(of=("self",))
        .select_related("referrer", "friend", "first_order__card")
        .get(pk=referral.pk)
    )
    if locked.state != ReferralState.UNDER_REVIEW:
        raise ReviewError(f"Only a referral under review can be decided; this one is '{locked.get_state_display()}'.")
    return locked


@transaction.atomic
def approve_review(*, referral: Referral, actor: User | None, note: str = "") -> Referral:
    """Approve once: the referral continues to the state its stored order facts imply (crediting if completed)."""
    locked = _lock_under_review(referral, actor)
    note = (note or "").strip() or "Approved after review."
    staff: _StaffActor = {"actor": actor, "actor_kind": ReferralEvent.Actor.STAFF}
    continue_after_review(locked, note=note, reason_code=ReasonCode.STAFF_APPROVED, staff=staff)
    referral.refresh_from_db()
    return locked


def continue_after_review(locked: Referral, *, note: str, reason_code: str, staff: _StaffActor) -> None:
    """The referral (locked, under review) continues as approved: voided if its first order ended or its card is
    the referrer's, qualified and credited if the order completed, else back to registered / order placed; the
    welcome package follows. Shared by a staff approval and a review that closed itself (`second_chance`)."""
    # Read before the decision changes the timeline: only a sign-up review kept the friend's welcome coupons.
    at_signup = review_opened_at_signup(referral=locked)
    ended = ended_before_completion(locked)
    # The card rules were not applied while the referral was held: a strong signal still ends it.
    order = locked.first_order  # read with the lock (select_related): no query
    card = check_first_order(referral=locked, order=order) if order is not None else None
    if ended is not None:
        event, _ended_at = ended
        reason = ENDING_REASONS[event]
        transition(
            referral=locked,
            to_state=ReferralState.VOIDED,
            from_states=[ReferralState.UNDER_REVIEW],
            reason_code=reason,
            note=f"{note} First order was {event} before completion.",
            **staff,
        )
        notify_ended(referral=locked, reason_code=reason)
    elif order is not None and card is not None and card.outcome == VOIDED:
        transition(
            referral=locked,
            to_state=ReferralState.VOIDED,
            from_states=[ReferralState.UNDER_REVIEW],
            reason_code=card.reason_code,
            note=f"{note} {first_order_void_note(order, card)}",
            signals=with_first_order_signals(locked, card),
            **staff,
        )
        notify_ended(referral=locked, reason_code=card.reason_code)
    elif locked.completed_at is not None:
        # A burst held at completion continues here too: qualified, then credited (or capped) at once.
        transition(
            referral=locked,
            to_state=ReferralState.QUALIFIED,
            from_states=[ReferralState.UNDER_REVIEW],
            reason_code=reason_code,
            note=note,
            credit_due_at=locked.completed_at,
            **staff,
        )
        # Credit now, in this transaction: the staff member sees credited (or capped) at once.
        credit_locked_referral(locked)
    else:
        to_state = ReferralState.ORDER_PLACED if locked.first_order_id else ReferralState.REGISTERED
        transition(
            referral=locked,
            to_state=to_state,
            from_states=[ReferralState.UNDER_REVIEW],
            reason_code=reason_code,
            note=note,
            **staff,
        )
    if locked.state != ReferralState.VOIDED:
        coupons = issue_welcome_package(referral=locked)
        if at_signup:
            notify_friend_welcome_ready(referral=locked, coupons=coupons)
    elif at_signup:
        # Voided at approval: no welcome package, and the friend was promised an answer.
        notify_friend_not_applied(referral=locked, reason_code=locked.reason_code)


@transaction.atomic
def reject_review(*, referral: Referral, actor: User | None, reason_code: str, note: str) -> Referral:
    """Reject once, with a reason code and the staff member's note; the referrer is told why in plain words."""
    valid = {choice.value for choice in ReasonCode}
    if reason_code not in valid:
        raise ReviewError(f"Unknown reason code {reason_code!r}.")
    if reason_code in {ReasonCode.STAFF_APPROVED, ReasonCode.MANUAL_CREDIT, ReasonCode.TECHNICAL_DELAY}:
        raise ReviewError(f"{reason_code} is not a reason to reject a referral.")
    note = (note or "").strip()
    if not note:
        raise ReviewError("Write a note explaining the rejection.")
    locked = _lock_under_review(referral, actor)
    at_signup = review_opened_at_signup(referral=locked)
    transition(
        referral=locked,
        to_state=ReferralState.REJECTED,
        from_states=[ReferralState.UNDER_REVIEW],
        reason_code=reason_code,
        actor=actor,
        actor_kind=ReferralEvent.Actor.STAFF,
        note=note,
    )
    notify_ended(referral=locked, reason_code=reason_code)
    if at_signup:
        # A review held at the first order concerns the referrer's reward only: the friend is told nothing.
        notify_friend_not_applied(referral=locked, reason_code=reason_code)
    referral.refresh_from_db()
    return locked
