"""An order's life and everything it causes, one transaction per use case (docs/program-rules.md sections 3–5, 8).

Each flow first asks the orders app to record the change (row-locked, decided by when it happened), then
passes what actually changed on, in this order:
1. a cancel before payment gives the order's coupons, coins and promo use back (coupons);
2. a completion or refund recomputes the buyer's points and level (orders.points);
3. a change of the buyer's FIRST order goes to the referral program (referrals lifecycle), and what that
   asks for next: the reward's credit task after commit, or a support case for a reward already spent.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import replace
from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from coupons.pricing import CheckoutRefused, price_cart
from coupons.services import RedemptionError, redeem_for_order, release_for_canceled_order
from lib.client import ClientInfo
from lib.money import format_money
from orders.models import Order, OrderState, Product
from orders.points import recompute_level
from orders.services import placing, refunds, transitions
from orders.services.lines import LineInput, check_lines, to_lines
from orders.services.transitions import TransitionResult
from referrals.reasons import FLAGGED_MESSAGE, ReasonCode
from referrals.services import first_order, lifecycle
from referrals.services.lifecycle import FirstOrderOutcome
from referrals.tasks import credit_referral_task
from support.reversals import open_reversal_case

# --- The referral program's part -------------------------------------------------------------------------


def pass_first_order_event(*, order: Order, event: str, occurred_at: datetime) -> FirstOrderOutcome:
    """Apply an event of a buyer's first order to their referral, then do what the outcome asks for:
    enqueue the credit after commit (a broker outage never raises: the sweep heals it), or open a case."""
    outcome = lifecycle.record_first_order_event(order=order, event=event, occurred_at=occurred_at)
    if outcome.credit_due and outcome.referral is not None:
        credit_referral_task.delay_on_commit(outcome.referral.pk)
    if outcome.spent_reward is not None:
        open_reversal_case(spent=outcome.spent_reward)
    return outcome


def _after_transition(result: TransitionResult) -> None:
    """What a recorded change causes elsewhere (only when it applied: a repeat or a superseded event causes nothing)."""
    if not result.changed:
        return
    order = result.order
    if order.is_first:
        pass_first_order_event(order=order, event=result.event, occurred_at=result.occurred_at)
    if result.event in (OrderState.COMPLETED, OrderState.REFUNDED):
        # The buyer's row is read (and locked) by recompute_level; an instance already loaded gets the new level.
        recompute_level(member=order.buyer if Order.buyer.is_cached(order) else User(pk=order.buyer_id))


# --- Placing ---------------------------------------------------------------------------------------------


@transaction.atomic
def place_order(
    *,
    member: User,
    lines: Sequence[LineInput | tuple[Product, int]],
    card_label: str = "",
    card_fingerprint: str = "",
    client: ClientInfo | None = None,
    occurred_at: datetime | None = None,
    external_id: str | None = None,
    total: Decimal | None = None,
    currency: str = "USD",
    amounts: placing.OrderAmounts | None = None,
) -> Order:
    """Place an order and tell the referral program when it is (or becomes) the buyer's first order.

    `amounts`: the checkout's price with the member's picks; without it the cart is priced at sale prices and
    seller discounts, and `total` (a shop event) is what the shop charged. An order placed before the buyer's
    first order but heard of later takes its place while the referral's outcome is open (program rules 3).
    """
    priced_lines = to_lines(lines)
    check_lines(priced_lines)  # before pricing: the order's own words for a bad line
    occurred_at = occurred_at or timezone.now()
    if amounts is None:
        amounts = price_cart(lines=priced_lines, currency=currency, at=occurred_at).amounts()
        if total is not None:
            amounts = replace(amounts, total=total)
    order = placing.place_order(
        member=member,
        lines=priced_lines,
        amounts=amounts,
        card_label=card_label,
        card_fingerprint=card_fingerprint,
        client=client,
        occurred_at=occurred_at,
        external_id=external_id,
    )
    current = placing.later_first_order(order)
    # The referral program decides whether the earlier order may take the first order's place.
    if current is not None and first_order.replace_first_order(old=current, new=order):
        placing.move_first_flag(old=current, new=order)
    if order.is_first:
        pass_first_order_event(order=order, event=OrderState.PLACED, occurred_at=occurred_at)
    return order


@transaction.atomic
def checkout(
    *,
    member: User,
    cart_lines: Sequence[LineInput | tuple[Product, int]],
    coupon_ids: Collection[int] = (),
    promo_code: str | None = None,
    coins: int = 0,
    card_label: str,
    client: ClientInfo | None = None,
    expected_total: Decimal | None = None,
    at: datetime | None = None,
) -> Order:
    """Price again, place the order and spend its coupons, promo code and coins in one transaction: all or
    nothing, and the order's total is the engine's total.

    0. Refuse (CheckoutRefused with the security message, nothing written) any coupon, promo code or
       coins for a flagged or suspended buyer: program benefits (program rules 6). They may still buy with no picks.
    1. Price the cart with the member's picks (never the form's totals).
    2. Refuse (CheckoutRefused, nothing written) an unknown or unusable promo code, coins over the balance
       or a coupon not in the wallet, and a total other than `expected_total` (the one the member saw).
    3. Place the order with that pricing.
    4. Redeem exactly what the engine applied. A coupon, promo use or coins spent meanwhile by a concurrent
       checkout raises CheckoutRefused and rolls back 1–4.
    """
    if (coupon_ids or promo_code or coins) and not member.may_use_program:
        raise CheckoutRefused(str(FLAGGED_MESSAGE), code=ReasonCode.ACCOUNT_FLAGGED)
    at = at or timezone.now()
    lines = to_lines(cart_lines)
    pricing = price_cart(lines=lines, member=member, coupon_ids=coupon_ids, promo_code=promo_code, coins=coins, at=at)
    for problem in pricing.problems:
        raise CheckoutRefused(problem.message, code=problem.code, field=problem.field)
    if expected_total is not None and expected_total != pricing.total:
        raise CheckoutRefused(
            f"The total is now {format_money(pricing.total, pricing.currency)}, "
            f"not the {format_money(expected_total, pricing.currency)} you saw. "
            "Check the price breakdown, then pay.",
            code="TOTAL_CHANGED",
        )
    order = place_order(member=member, lines=lines, card_label=card_label, client=client, amounts=pricing.amounts())
    try:
        redeem_for_order(
            order=order,
            coupon_ids=pricing.applied_coupon_ids,
            promo_code=pricing.promo_code,
            coins=pricing.coins_used,
            at=at,
        )
    except RedemptionError as exc:
        # Raised out of this atomic block: the order and every claim above roll back.
        raise CheckoutRefused(f"{exc} Nothing was charged: check the new total, then pay.", code=exc.code) from exc
    return order


# --- Transitions ----------------------------------------------------------------------------------------


@transaction.atomic
def record_transition(
    *, order: Order, event: str, occurred_at: datetime | None = None, strict: bool = True
) -> TransitionResult:
    """Record a transition (orders.services.transitions) and pass on what it changed, all or nothing (a
    savepoint inside a caller's transaction); see the module docstring."""
    return apply_transition(order=order, event=event, occurred_at=occurred_at, strict=strict)


def apply_transition(
    *, order: Order, event: str, occurred_at: datetime | None = None, strict: bool = True, is_locked: bool = False
) -> TransitionResult:
    """`record_transition` for a caller whose own transaction is the unit and ends with any error it raises
    (flows.order_events: the inbox row and the event's effect commit together): no savepoint of its own, each
    of which is two more round trips per event. `is_locked`: the caller read `order` with a row lock in this
    transaction."""
    result = transitions.record_transition(
        order=order, event=event, occurred_at=occurred_at, strict=strict, is_locked=is_locked
    )
    if result.changed and event == OrderState.CANCELED:
        # Same rule for a member's cancel and a shop's: canceled before payment gives coupons, coins and promo back.
        release_for_canceled_order(order=result.order)
    _after_transition(result)
    return result


def pay(*, order: Order, occurred_at: datetime | None = None) -> Order:
    """Mark a placed order paid (demo shop: payment captured)."""
    return record_transition(order=order, event=OrderState.PAID, occurred_at=occurred_at).order


def ship(*, order: Order, occurred_at: datetime | None = None) -> Order:
    """Mark a paid order shipped (demo shop)."""
    return record_transition(order=order, event=OrderState.SHIPPED, occurred_at=occurred_at).order


def complete(*, order: Order, occurred_at: datetime | None = None) -> Order:
    """The buyer confirms receipt of a shipped order: it is completed (final)."""
    return record_transition(order=order, event=OrderState.COMPLETED, occurred_at=occurred_at).order


def cancel(*, order: Order, occurred_at: datetime | None = None) -> Order:
    """Cancel an order that has not shipped yet; canceled before payment, its unexpired coupons, coins and
    promo use go back to the member in the same transaction."""
    return record_transition(order=order, event=OrderState.CANCELED, occurred_at=occurred_at).order


def refund(*, order: Order, occurred_at: datetime | None = None) -> Order:
    """Record that a paid order was refunded (an approved refund; members go through `request_refund`)."""
    return record_transition(order=order, event=OrderState.REFUNDED, occurred_at=occurred_at).order


TRANSITIONS: dict[str, Callable[..., Order]] = {
    OrderState.PAID: pay,
    OrderState.SHIPPED: ship,
    OrderState.COMPLETED: complete,
    OrderState.CANCELED: cancel,
    OrderState.REFUNDED: refund,
}


# --- Refund decisions -----------------------------------------------------------------------------------


@transaction.atomic
def request_refund(*, order: Order, requested_at: datetime | None = None) -> Order:
    """The buyer asks for a refund: approved at once under their level's limit, else it waits for staff."""
    outcome = refunds.request_refund(order=order, requested_at=requested_at)
    if outcome.transition is not None:
        _after_transition(outcome.transition)
    return outcome.order


@transaction.atomic
def approve_refund(*, order: Order, actor: User, note: str = "", approved_at: datetime | None = None) -> Order:
    """Staff approve a waiting refund request: the order is refunded once (already refunded: only the decision)."""
    outcome = refunds.approve_refund(order=order, actor=actor, note=note, approved_at=approved_at)
    if outcome.transition is not None:
        _after_transition(outcome.transition)
    return outcome.order


def reject_refund(*, order: Order, actor: User, note: str, rejected_at: datetime | None = None) -> Order:
    """Staff reject a waiting refund request with a reason; nothing else changes."""
    return refunds.reject_refund(order=order, actor=actor, note=note, rejected_at=rejected_at)
