"""Write use cases for orders: placing, the lifecycle transitions, pricing and shop events.

Every transition records when it happened (`*_at`). The state is derived from
those times (orders.rules), so late, repeated or out-of-order events end in the
same state whatever order they arrive in. Each transition of a buyer's FIRST
order is passed to the referral program in the same transaction
(`referrals.services.lifecycle.record_first_order_event`).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.identity import keyed_hash
from orders import rules
from orders.models import Order, OrderLine, OrderState, PaymentCard, Product, RefundStatus, Store

CENT = Decimal("0.01")
MAX_QUANTITY = 20


class OrderError(Exception):
    """A domain error with a message a person can read."""

    code = "ORDER_ERROR"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code


class InvalidTransition(OrderError):
    """The order's history does not allow this transition (e.g. cancel after shipping)."""

    code = "INVALID_TRANSITION"


class InvalidOrder(OrderError):
    """The order itself is not acceptable (no lines, bad quantity, bad card label, duplicate id)."""

    code = "INVALID_ORDER"


# --- Lines and pricing ----------------------------------------------------------


@dataclass(frozen=True)
class LineInput:
    """One line to price or to order: a catalog product, or a line described by the shop."""

    store: Store
    name: str
    quantity: int
    unit_price: Decimal  # list price
    sale_price: Decimal | None = None
    product: Product | None = None

    @classmethod
    def for_product(cls, product: Product, quantity: int) -> LineInput:
        return cls(
            store=product.store,
            name=product.name,
            quantity=quantity,
            unit_price=Decimal(str(product.price)),
            sale_price=None if product.sale_price is None else Decimal(str(product.sale_price)),
            product=product,
        )

    @property
    def paid_unit_price(self) -> Decimal:
        return self.sale_price if self.sale_price is not None else self.unit_price

    @property
    def list_total(self) -> Decimal:
        return (self.unit_price * self.quantity).quantize(CENT)

    @property
    def total(self) -> Decimal:
        return (self.paid_unit_price * self.quantity).quantize(CENT)


@dataclass(frozen=True)
class PricingStep:
    code: str  # "SALE", later "STORE_COUPON", "PLATFORM_COUPON", "COINS", ...
    label: str
    amount: Decimal  # a positive amount taken off


@dataclass(frozen=True)
class CartPricing:
    currency: str
    subtotal: Decimal  # at list prices
    steps: list[PricingStep] = field(default_factory=list)
    total: Decimal = Decimal("0")

    @property
    def discount_total(self) -> Decimal:
        return sum((step.amount for step in self.steps), Decimal("0")).quantize(CENT)

    @property
    def sale_savings(self) -> Decimal:
        return sum((s.amount for s in self.steps if s.code == "SALE"), Decimal("0")).quantize(CENT)

    def as_json(self) -> dict:
        return {
            "currency": self.currency,
            "subtotal": str(self.subtotal),
            "steps": [{"code": s.code, "label": s.label, "amount": str(s.amount)} for s in self.steps],
            "total": str(self.total),
        }


def _to_lines(lines: Iterable) -> list[LineInput]:
    out = []
    for line in lines:
        if isinstance(line, LineInput):
            out.append(line)
        else:
            product, quantity = line
            out.append(LineInput.for_product(product, int(quantity)))
    return out


def price_cart(*, lines: Sequence[LineInput | tuple[Product, int]], buyer=None, currency: str = "USD") -> CartPricing:
    """Price a cart: the ONE place checkout prices go through.

    Today: step 1 of PROGRAM_RULES section 5 (sale prices). The coupons stacking
    engine plugs in here later (store/select/platform coupons, promo code, coins),
    taking the amount left after the sale step; `buyer` is for that.
    """
    priced = _to_lines(lines)
    subtotal = sum((line.list_total for line in priced), Decimal("0")).quantize(CENT)
    after_sale = sum((line.total for line in priced), Decimal("0")).quantize(CENT)
    steps = []
    if subtotal > after_sale:
        steps.append(PricingStep(code="SALE", label="Sale savings", amount=subtotal - after_sale))
    total = max(after_sale, Decimal("0")).quantize(CENT, rounding=ROUND_HALF_UP)
    return CartPricing(currency=currency, subtotal=subtotal, steps=steps, total=total)


# --- Cards -------------------------------------------------------------------------

_CARD_LABEL = re.compile(r"^[A-Za-z][A-Za-z .-]{0,29} \d{4}$")


def normalize_card_label(label: str) -> str:
    """'  visa   4242 ' -> 'Visa 4242'; refuses anything that looks like a card number."""
    cleaned = " ".join((label or "").split())
    if re.search(r"\d{5,}", cleaned.replace(" ", "")) or not _CARD_LABEL.match(cleaned):
        raise InvalidOrder(
            "Enter a test card label such as 'Visa 4242' (a brand and 4 digits) - never a real card number.",
            code="INVALID_CARD_LABEL",
        )
    brand, digits = cleaned.rsplit(" ", 1)
    return f"{brand.title()} {digits}"


def card_fingerprint(label: str) -> str:
    """The opaque card fingerprint the demo payment provider gives for a test card label."""
    return keyed_hash(normalize_card_label(label).lower(), purpose="card")


def _card_for(*, buyer, fingerprint: str, label: str, at: datetime) -> PaymentCard:
    card, _ = PaymentCard.objects.get_or_create(
        user=buyer, fingerprint=fingerprint, defaults={"label": label[:40], "first_used_at": at}
    )
    return card


# --- Referral hook ------------------------------------------------------------------


def _notify_referrals(*, order: Order, event: str, occurred_at: datetime) -> None:
    """Pass a transition of a buyer's first order to the referral program (same transaction)."""
    if not order.is_first:
        return
    # Imported at call time: the referral program owns this function.
    from referrals.services.lifecycle import record_first_order_event

    record_first_order_event(order=order, event=event, occurred_at=occurred_at)


# --- Member level hook ------------------------------------------------------------------


def _update_member_level(*, order: Order) -> None:
    """A completion or refund changes the buyer's points: recompute them now (same transaction)."""
    from accounts.levels import recompute_level

    recompute_level(user=order.buyer)


# --- Placing ------------------------------------------------------------------------


def new_external_id() -> str:
    return "PO-" + secrets.token_hex(6).upper()


@transaction.atomic
def place_order(
    *,
    buyer,
    lines: Sequence[LineInput | tuple[Product, int]],
    card_label: str = "",
    request=None,
    occurred_at: datetime | None = None,
    external_id: str | None = None,
    card_fingerprint_value: str = "",
    total: Decimal | None = None,
    currency: str = "USD",
) -> Order:
    """Create an order in state `placed`; exactly one order per buyer is ever `is_first`, even under races.

    The card is kept only as a fingerprint: derived from the test `card_label`
    here, or given by the shop (`card_fingerprint_value`) for shop events.
    `total` is what the shop charged (shop events); else the cart is priced.
    """
    priced_lines = _to_lines(lines)
    if not priced_lines:
        raise InvalidOrder("An order needs at least one line.", code="EMPTY_ORDER")
    for line in priced_lines:
        if not 1 <= line.quantity <= MAX_QUANTITY:
            raise InvalidOrder(f"Quantity must be between 1 and {MAX_QUANTITY}.", code="INVALID_QUANTITY")
    now = timezone.now()
    occurred_at = occurred_at or now
    if card_fingerprint_value:
        fingerprint, label = card_fingerprint_value, ""
    else:
        label = normalize_card_label(card_label)
        fingerprint = keyed_hash(label.lower(), purpose="card")
    pricing = price_cart(lines=priced_lines, buyer=buyer, currency=currency)
    order = Order(
        buyer=buyer,
        external_id=external_id or new_external_id(),
        state=OrderState.PLACED,
        card=_card_for(buyer=buyer, fingerprint=fingerprint, label=label, at=occurred_at),
        currency=currency,
        subtotal=pricing.subtotal,
        discount_total=pricing.discount_total,
        total=pricing.total if total is None else total,
        pricing=pricing.as_json(),
        placed_at=occurred_at,
    )
    if request is not None:
        from accounts.services import record_sighting

        order.device, _ = record_sighting(request=request, kind="order", user=buyer)
    if Order.objects.filter(external_id=order.external_id).exists():
        raise InvalidOrder("An order with this id already exists.", code="DUPLICATE_ORDER")
    # First order: decided by the partial unique index (one is_first per buyer),
    # not by the count alone, so two concurrent first orders can't both be first.
    order.is_first = not Order.objects.filter(buyer=buyer).exists()
    try:
        with transaction.atomic():
            order.save()
    except IntegrityError:
        if not order.is_first:
            raise InvalidOrder("An order with this id already exists.", code="DUPLICATE_ORDER") from None
        order.pk = None
        order.is_first = False
        try:
            with transaction.atomic():
                order.save()
        except IntegrityError:
            raise InvalidOrder("An order with this id already exists.", code="DUPLICATE_ORDER") from None
    OrderLine.objects.bulk_create(
        OrderLine(
            order=order,
            product=line.product,
            store=line.store,
            name=line.name[:200],
            quantity=line.quantity,
            unit_price=line.unit_price,
            sale_price=line.sale_price,
        )
        for line in priced_lines
    )
    _notify_referrals(order=order, event=OrderState.PLACED, occurred_at=occurred_at)
    return order


# --- Transitions --------------------------------------------------------------------


@dataclass(frozen=True)
class TransitionResult:
    order: Order
    outcome: str  # rules.APPLY | rules.DUPLICATE | rules.SUPERSEDED
    message: str = ""

    @property
    def changed(self) -> bool:
        return self.outcome == rules.APPLY


@transaction.atomic
def record_transition(
    *, order: Order, event: str, occurred_at: datetime | None = None, strict: bool = True
) -> TransitionResult:
    """Record that `event` happened at `occurred_at`, at most once per order; raises InvalidTransition if impossible.

    strict=True: a person acting now (the current state must allow it).
    strict=False: a shop event that may be late, repeated or out of order.
    """
    # Row lock: two events for one order are decided one after the other.
    locked = Order.objects.select_for_update().get(pk=order.pk)
    occurred_at = occurred_at or timezone.now()
    decision = rules.decide_transition(
        facts=rules.Facts.of(locked), event=event, occurred_at=occurred_at, strict=strict
    )
    if decision.outcome == rules.INVALID:
        raise InvalidTransition(decision.message)
    if decision.outcome in (rules.APPLY, rules.SUPERSEDED):
        setattr(locked, f"{event}_at", occurred_at)
        locked.state = rules.resolve_state(rules.Facts.of(locked))
        locked.save(update_fields=[f"{event}_at", "state", "updated_at"])
    if decision.outcome == rules.APPLY:
        _notify_referrals(order=locked, event=event, occurred_at=occurred_at)
        if event in (OrderState.COMPLETED, OrderState.REFUNDED):
            _update_member_level(order=locked)
    # The caller's instance reflects the row.
    for name in ("state", "paid_at", "shipped_at", "completed_at", "canceled_at", "refunded_at", "updated_at"):
        setattr(order, name, getattr(locked, name))
    return TransitionResult(order=order, outcome=decision.outcome, message=decision.message)


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
    """Cancel an order that has not shipped yet."""
    return record_transition(order=order, event=OrderState.CANCELED, occurred_at=occurred_at).order


def refund(*, order: Order, occurred_at: datetime | None = None) -> Order:
    """Record that a paid order was refunded (an approved refund; members go through `request_refund`)."""
    return record_transition(order=order, event=OrderState.REFUNDED, occurred_at=occurred_at).order


# --- Refund requests ------------------------------------------------------------------


def _locked_for_refund(order: Order) -> Order:
    return Order.objects.select_for_update().select_related("buyer").get(pk=order.pk)


def _sync_refund_fields(order: Order, locked: Order) -> None:
    for name in ("refund_status", "refund_requested_at", "refund_decided_at", "refund_decided_by_id", "refund_note"):
        setattr(order, name, getattr(locked, name))


@transaction.atomic
def request_refund(*, order: Order, requested_at: datetime | None = None) -> Order:
    """Record the buyer's refund request once; refunded at once if their level allows it, else it waits for staff.

    Platinum and above (a level with a fast-refund limit): an order whose total
    is under the limit is refunded immediately (`auto_approved`). Everyone else,
    or a larger order: `requested`, until staff approve or reject it.
    Raises InvalidTransition if the order can't be refunded or a request is already waiting.
    """
    from accounts.levels import fast_refund_decision, level_of

    locked = _locked_for_refund(order)
    now = requested_at or timezone.now()
    if locked.has_pending_refund_request:
        raise InvalidTransition("A refund request for this order is already waiting for approval.")
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
    if fast.auto_approve:
        record_transition(order=locked, event=OrderState.REFUNDED, occurred_at=now)
    _sync_refund_fields(order, locked)
    for name in ("state", "refunded_at", "updated_at"):
        setattr(order, name, getattr(locked, name))
    return order


@transaction.atomic
def approve_refund(*, order: Order, actor, note: str = "", approved_at: datetime | None = None) -> Order:
    """Staff approve a waiting refund request: the order is refunded once (already refunded: only the decision)."""
    locked = _locked_for_refund(order)
    if locked.refund_status != RefundStatus.REQUESTED:
        raise InvalidTransition("Only a refund request that is waiting for approval can be approved.")
    now = approved_at or timezone.now()
    if locked.refunded_at is None:
        # The request was valid when made; a refund is always possible on a paid order.
        record_transition(order=locked, event=OrderState.REFUNDED, occurred_at=now)
    locked.refund_status, locked.refund_decided_at, locked.refund_decided_by = RefundStatus.APPROVED, now, actor
    locked.refund_note = (note or "Approved by staff")[:300]
    locked.save(update_fields=["refund_status", "refund_decided_at", "refund_decided_by", "refund_note", "updated_at"])
    _sync_refund_fields(order, locked)
    for name in ("state", "refunded_at", "updated_at"):
        setattr(order, name, getattr(locked, name))
    return order


@transaction.atomic
def reject_refund(*, order: Order, actor, note: str, rejected_at: datetime | None = None) -> Order:
    """Staff reject a waiting refund request with a reason; the order is unchanged and may be requested again."""
    if not (note or "").strip():
        raise ValueError("A rejection needs a reason.")
    locked = _locked_for_refund(order)
    if not locked.has_pending_refund_request:
        raise InvalidTransition("Only a refund request that is waiting for approval can be rejected.")
    locked.refund_status = RefundStatus.REJECTED
    locked.refund_decided_at, locked.refund_decided_by = rejected_at or timezone.now(), actor
    locked.refund_note = note.strip()[:300]
    locked.save(update_fields=["refund_status", "refund_decided_at", "refund_decided_by", "refund_note", "updated_at"])
    _sync_refund_fields(order, locked)
    return order


TRANSITIONS = {
    OrderState.PAID: pay,
    OrderState.SHIPPED: ship,
    OrderState.COMPLETED: complete,
    OrderState.CANCELED: cancel,
    OrderState.REFUNDED: refund,
}


# --- Shop events (inbox) --------------------------------------------------------------


@dataclass(frozen=True)
class EventReceipt:
    status: int
    body: dict


def receive_order_event(*, event) -> EventReceipt:
    """Apply a verified shop event at most once: the inbox row and its effect commit together.

    `event` is an orders.webhooks.OrderEventData. A repeated event id answers 200
    with no effect; a refused event (unknown order/member, impossible transition)
    raises orders.webhooks.WebhookError and stores nothing, so the shop may retry.
    """
    from orders.models import OrderEvent

    with transaction.atomic():
        try:
            # Savepoint: a concurrent delivery of the same id waits on the unique
            # index, then lands here once the first one has committed.
            with transaction.atomic():
                inbox = OrderEvent.objects.create(
                    event_id=event.event_id,
                    type=event.type,
                    order_external_id=event.order_id,
                    occurred_at=event.occurred_at,
                    payload=event.payload,
                )
        except IntegrityError:
            return EventReceipt(200, {"status": "duplicate", "event_id": event.event_id})
        result = _apply_event(event)
        inbox.processed_at = timezone.now()
        inbox.result = result[:200]
        inbox.save(update_fields=["processed_at", "result"])
    return EventReceipt(200, {"status": "processed", "event_id": event.event_id, "result": result})


def _apply_event(event) -> str:
    from accounts.models import User
    from orders.webhooks import WebhookError

    if event.type == "order.placed":
        buyer = User.objects.filter(email__iexact=event.member_email.strip()).first()
        if buyer is None:
            raise WebhookError(422, "unknown_member", "No member has this e-mail address.")
        existing = Order.objects.filter(external_id=event.order_id).first()
        if existing is not None:
            if existing.buyer_id != buyer.pk:
                raise WebhookError(409, "order_conflict", "This order id belongs to another member.")
            return "already placed"
        stores = {s.slug: s for s in Store.objects.filter(slug__in={line.store for line in event.lines})}
        missing = sorted({line.store for line in event.lines} - stores.keys())
        if missing:
            raise WebhookError(422, "unknown_store", f"Unknown store: {', '.join(missing)}.")
        lines = [
            LineInput(
                store=stores[line.store],
                name=line.name,
                quantity=line.quantity,
                unit_price=line.unit_price,
                sale_price=line.sale_price,
            )
            for line in event.lines
        ]
        try:
            order = place_order(
                buyer=buyer,
                lines=lines,
                occurred_at=event.occurred_at,
                external_id=event.order_id,
                card_fingerprint_value=event.card_fingerprint,
                total=event.total,
                currency=event.currency,
            )
        except InvalidOrder as exc:
            raise WebhookError(422, exc.code.lower(), exc.message) from None
        return "placed" + (" (first order)" if order.is_first else "")

    order = Order.objects.filter(external_id=event.order_id).first()
    if order is None:
        raise WebhookError(422, "unknown_order", "No order has this id (send order.placed first).")
    try:
        outcome = record_transition(order=order, event=event.transition, occurred_at=event.occurred_at, strict=False)
    except InvalidTransition as exc:
        raise WebhookError(409, "invalid_transition", exc.message) from None
    if outcome.changed:
        return f"{event.transition}; order is {outcome.order.state}"
    return outcome.message
