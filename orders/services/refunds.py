"""Refund requests: the buyer asks, their level may approve at once, otherwise staff decide (program rules 8)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.levels import fast_refund_decision, level_of
from accounts.models import User
from orders import rules
from orders.errors import InvalidTransition
from orders.models import Order, OrderState, RefundStatus
from orders.services.transitions import TransitionResult, record_transition


@dataclass(frozen=True)
class RefundOutcome:
    order: Order
    transition: TransitionResult | None  # the refund, when this decision refunded the order


def _locked_for_refund(order: Order) -> Order:
    return Order.objects.select_for_update().select_related("buyer").get(pk=order.pk)


def _sync_refund_fields(order: Order, locked: Order) -> None:
    for name in ("refund_status", "refund_requested_at", "refund_decided_at", "refund_decided_by_id", "refund_note"):
        setattr(order, name, getattr(locked, name))


@transaction.atomic
def request_refund(*, order: Order, requested_at: datetime | None = None) -> RefundOutcome:
    """Record the buyer's refund request once; refunded at once if their level allows it, else it waits for staff.

    Platinum and above (a level with a fast-refund limit): an order whose total
    is under the limit is refunded immediately (`auto_approved`). Everyone else,
    or a larger order: `requested`, until staff approve or reject it.
    Raises InvalidTransition if the order can't be refunded or a request is already waiting.
    The outcome carries the refund transition, if one happened, for the flow to pass on.
    """
    locked = _locked_for_refund(order)
    now = requested_at or timezone.now()
    if locked.has_pending_refund_request:
        raise InvalidTransition(_("A refund request for this order is already waiting for approval."))
    decision = rules.decide_transition(
        facts=rules.Facts.of(locked), event=OrderState.REFUNDED, occurred_at=max(now, locked.placed_at), strict=True
    )
    if decision.outcome != rules.APPLY:
        raise InvalidTransition(decision.message or rules.MESSAGES[OrderState.REFUNDED])
    fast = fast_refund_decision(level=level_of(locked.buyer), amount=locked.total)
    locked.refund_requested_at = now
    locked.refund_decided_by = None
    if fast.auto_approve:
        locked.refund_status, locked.refund_decided_at = RefundStatus.AUTO_APPROVED, now
        locked.refund_note = f"{fast.reason}: approved at once ({locked.buyer.get_level_display()} level)"
    else:
        locked.refund_status, locked.refund_decided_at = RefundStatus.REQUESTED, None
        locked.refund_note = fast.reason
    locked.save(
        update_fields=[
            "refund_status",
            "refund_requested_at",
            "refund_decided_at",
            "refund_decided_by",
            "refund_note",
            "updated_at",
        ]
    )
    transition = None
    if fast.auto_approve:
        transition = record_transition(order=locked, event=OrderState.REFUNDED, occurred_at=now)
    _sync_refund_fields(order, locked)
    for name in ("state", "refunded_at", "updated_at"):
        setattr(order, name, getattr(locked, name))
    return RefundOutcome(order=order, transition=transition)


@transaction.atomic
def approve_refund(*, order: Order, actor: User, note: str = "", approved_at: datetime | None = None) -> RefundOutcome:
    """Staff approve a waiting refund request: the order is refunded once (already refunded: only the decision)."""
    locked = _locked_for_refund(order)
    if locked.refund_status != RefundStatus.REQUESTED:
        raise InvalidTransition(_("Only a refund request that is waiting for approval can be approved."))
    now = approved_at or timezone.now()
    transition = None
    if locked.refunded_at is None:
        # The request was valid when made; a refund is always possible on a paid order.
        transition = record_transition(order=locked, event=OrderState.REFUNDED, occurred_at=now)
    locked.refund_status, locked.refund_decided_at, locked.refund_decided_by = RefundStatus.APPROVED, now, actor
    locked.refund_note = (note or "Approved by staff")[:300]
    locked.save(update_fields=["refund_status", "refund_decided_at", "refund_decided_by", "refund_note", "updated_at"])
    _sync_refund_fields(order, locked)
    for name in ("state", "refunded_at", "updated_at"):
        setattr(order, name, getattr(locked, name))
    return RefundOutcome(order=order, transition=transition)


@transaction.atomic
def reject_refund(*, order: Order, actor: User, note: str, rejected_at: datetime | None = None) -> Order:
    """Staff reject a waiting refund request with a reason; the order is unchanged and may be requested again."""
    if not (note or "").strip():
        raise ValueError("A rejection needs a reason.")
    locked = _locked_for_refund(order)
    if not locked.has_pending_refund_request:
        raise InvalidTransition(_("Only a refund request that is waiting for approval can be rejected."))
    locked.refund_status = RefundStatus.REJECTED
    locked.refund_decided_at, locked.refund_decided_by = rejected_at or timezone.now(), actor
    locked.refund_note = note.strip()[:300]
    locked.save(update_fields=["refund_status", "refund_decided_at", "refund_decided_by", "refund_note", "updated_at"])
    _sync_refund_fields(order, locked)
    return order
