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
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.identity import keyed_hash
from coupons import stacking
from coupons.stacking import CartLine, CheckoutError, CoinsDecision, PricedCheckout, Reason, SellerDiscount, coins_cap
from orders import rules
from orders.models import Order, OrderLine, OrderState, PaymentCard, Product, RefundStatus, Store
from referrals.reasons import FLAGGED_MESSAGE, ReasonCode

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


class CheckoutRefused(OrderError):
    """Nothing was placed: a pick can't be used (now), or the total is not the one the member saw.

    `field` names the checkout form field at fault (coupons, promo_code, coins), if any."""

    code = "CHECKOUT_REFUSED"

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None) -> None:
        super().__init__(message, code=code)
        self.field = field


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


# --- Pricing: the coupons stacking engine (PROGRAM_RULES section 5) -------------------

# Engine step kinds -> the codes orders use (the "list" step is the subtotal, not a discount).
STEP_CODES = {
    "sale": "SALE",
    "seller_discount": "SELLER_DISCOUNT",
    "store_coupon": "STORE_COUPON",
    "select_coupon": "SELECT_COUPON",
    "platform_coupon": "PLATFORM_COUPON",
    "promo_code": "PROMO_CODE",
    "coins": "COINS",
}
# Reasons that hold whatever the member picks: such a coupon can't be picked for this cart.
NEVER_APPLIES = {
    Reason.NOT_IN_WALLET,
    Reason.EXPIRED,
    Reason.ALREADY_USED,
    Reason.VOIDED,
    Reason.REGION,
    Reason.CURRENCY,
    Reason.STORE_NOT_IN_CART,
}

# Reasons a coupon is left out only because another pick fills its slot.
SLOT_TAKEN = {Reason.ONE_STORE_PER_STORE, Reason.ONE_SELECT, Reason.ONE_PLATFORM, Reason.PROMO_REPLACED}


@dataclass(frozen=True)
class PricingStep:
    code: str  # SALE, SELLER_DISCOUNT, STORE_COUPON, SELECT_COUPON, PLATFORM_COUPON, PROMO_CODE, COINS
    label: str
    amount: Decimal  # a positive amount taken off
    remaining: Decimal = Decimal("0")  # what is left to pay after this step


@dataclass(frozen=True)
class CouponOption:
    """One coupon of the member's wallet as the checkout lists it: does it apply, and if not, why."""

    coupon_id: int
    kind: str
    title: str
    value: Decimal
    min_spend: Decimal
    currency: str
    expires_at: datetime
    store_name: str
    is_picked: bool
    applies: bool  # applied to the order as priced now
    amount: Decimal  # what it takes off now (applied) or would take off if picked (preview)
    reason: str
    message: str  # the engine's sentence ("$12.00 short of the $60.00 minimum", "only for items from …")
    can_pick: bool  # False: it can't apply to this cart whatever else is picked (expired, other store, region…)

    @property
    def status(self) -> str:
        """applied | unavailable (can't apply to this cart) | available (would apply if picked) |
        slot_taken (another pick fills its slot) | not_applying (e.g. short of its minimum)."""
        if self.applies:
            return "applied"
        if not self.can_pick:
            return "unavailable"
        if self.reason == Reason.APPLIED:
            return "available"
        if self.reason in SLOT_TAKEN:
            return "slot_taken"
        return "not_applying"


@dataclass(frozen=True)
class PickProblem:
    """Input the checkout refuses to pay with (unknown promo code, coins over the balance, a coupon not yours)."""

    field: str  # form field: coupons | promo_code | coins
    code: str
    message: str


@dataclass(frozen=True)
class CartPricing:
    """A priced cart: the engine's result plus what the checkout page lists."""

    priced: PricedCheckout
    coins_balance: int | None = None
    requested_coins: int = 0
    options: tuple[CouponOption, ...] = ()

    @property
    def currency(self) -> str:
        return self.priced.currency

    @property
    def subtotal(self) -> Decimal:
        """At list prices."""
        return self.priced.list_total

    @property
    def total(self) -> Decimal:
        return self.priced.total

    @property
    def steps(self) -> list[PricingStep]:
        return [
            PricingStep(
                code=STEP_CODES[s.kind],
                label="Sale savings" if s.kind == "sale" else s.label,
                amount=s.amount,
                remaining=s.remaining,
            )
            for s in self.priced.steps
            if s.kind in STEP_CODES
        ]

    @property
    def discount_total(self) -> Decimal:
        """Everything taken off the list prices (sale prices included): subtotal − discount_total = total."""
        return self.priced.savings_total

    @property
    def sale_savings(self) -> Decimal:
        return self.priced.sale_savings

    @property
    def sale_savings_percent(self) -> Decimal:
        return self.priced.sale_savings_percent

    @property
    def other_savings(self) -> Decimal:
        """Steps 2–6: seller discounts, coupons, promo code and coins."""
        return self.priced.discount_total

    @property
    def coins_used(self) -> int:
        return self.priced.coins.used

    @property
    def coins_max(self) -> int:
        """Most coins this order can take: the 10% cap on what is left before coins, and the balance."""
        cap = coins_cap(self.priced.total + self.priced.coins.amount)
        return cap if self.coins_balance is None else min(cap, self.coins_balance)

    @property
    def applied_coupon_ids(self) -> tuple[int, ...]:
        return self.priced.applied_coupon_ids

    @property
    def promo_code(self) -> str | None:
        """The promo code to redeem: only one that applies."""
        promo = self.priced.promo
        return promo.code if promo is not None and promo.applies else None

    @property
    def problems(self) -> list[PickProblem]:
        """Picks the checkout refuses to pay with; the engine simply leaves them out of the price."""
        out = []
        if any(d.reason == Reason.NOT_IN_WALLET for d in self.priced.coupons):
            out.append(PickProblem("coupons", Reason.NOT_IN_WALLET, "A coupon you picked is not in your wallet."))
        promo = self.priced.promo
        if promo is not None and not promo.applies:
            out.append(PickProblem("promo_code", promo.reason, _sentence(promo.message)))
        coins = self.priced.coins
        if coins.reason == Reason.COINS_INVALID:
            out.append(PickProblem("coins", coins.reason, _sentence(coins.message)))
        elif self.coins_balance is not None and self.requested_coins > self.coins_balance:
            out.append(
                PickProblem(
                    "coins",
                    Reason.COINS_BALANCE,
                    f"You asked for {self.requested_coins:,} coins but have {self.coins_balance:,}.",
                )
            )
        return out

    def as_json(self) -> dict:
        """What Order.pricing keeps: the engine's breakdown (PricedCheckout.as_dict())."""
        return self.priced.as_dict()


def _sentence(message: str) -> str:
    message = message.strip()
    return (message[:1].upper() + message[1:] + ("" if message.endswith((".", "!", "?")) else ".")) if message else ""


def _to_lines(lines: Iterable) -> list[LineInput]:
    out = []
    for line in lines:
        if isinstance(line, LineInput):
            out.append(line)
        else:
            product, quantity = line
            out.append(LineInput.for_product(product, int(quantity)))
    return out


def _cart_lines(lines: Sequence[LineInput]) -> list[CartLine]:
    return [
        CartLine(
            store_id=line.store.pk,
            store_name=line.store.name,
            list_price=line.unit_price,
            sale_price=line.sale_price,
            quantity=line.quantity,
            name=line.name,
        )
        for line in lines
    ]


def seller_discounts_for(lines: Sequence[LineInput]) -> list[SellerDiscount]:
    """The automatic discounts of the stores in the cart (Store.auto_discount_*), no query: stores come with lines."""
    stores = {line.store.pk: line.store for line in lines}
    return [
        SellerDiscount(
            store_id=store.pk,
            min_quantity=store.auto_discount_min_quantity,
            percent=store.auto_discount_percent,
            label=store.auto_discount_label,
        )
        for store in stores.values()
        if store.has_auto_discount
    ]


def _cart_currency(lines: Sequence[LineInput], default: str | None) -> str:
    currencies = {line.product.currency for line in lines if line.product is not None}
    if len(currencies) > 1:
        raise InvalidOrder("Items priced in different currencies can't be in one order.", code="MIXED_CURRENCY")
    return currencies.pop() if currencies else (default or "USD")


def _is_member(buyer) -> bool:
    return buyer is not None and getattr(buyer, "is_authenticated", False)


def price_cart(
    *,
    lines: Sequence[LineInput | tuple[Product, int]],
    buyer=None,
    coupon_ids: Collection[int] = (),
    promo_code: str | None = None,
    coins: int = 0,
    currency: str | None = None,
    at: datetime | None = None,
    with_options: bool = False,
) -> CartPricing:
    """Price a cart by the stacking rules: the ONE place checkout prices go through (read only).

    Steps 1–2 (sale prices, the stores' automatic discounts) for anyone; with a
    member, their picked coupons, promo code and coins through
    coupons.services.price_checkout. `with_options` also lists every coupon the
    member holds with whether it applies (or would if picked) and why not.
    Raises InvalidOrder for a cart the engine can't price (empty, bad prices).
    """
    from coupons.services import price_checkout
    from referral_portal.templatetags.money import active_money_locale

    priced_lines = _to_lines(lines)
    at = at or timezone.now()
    currency = _cart_currency(priced_lines, currency)
    if not priced_lines:  # an empty cart costs nothing (the engine refuses to price one)
        return CartPricing(priced=_empty_pricing(currency))
    cart_lines = _cart_lines(priced_lines)
    discounts = seller_discounts_for(priced_lines)
    picked = {int(i) for i in coupon_ids}
    try:
        if not _is_member(buyer):
            return CartPricing(
                priced=stacking.price_cart(
                    lines=cart_lines, seller_discounts=discounts, at=at, currency=currency, locale=active_money_locale()
                )
            )
        priced = price_checkout(
            member=buyer,
            cart_lines=cart_lines,
            coupon_ids=picked,
            promo_code=promo_code or None,
            coins=coins,
            at=at,
            seller_discounts=discounts,
            currency=currency,
        )
        options = (
            _coupon_options(
                buyer=buyer,
                cart_lines=cart_lines,
                discounts=discounts,
                priced=priced,
                picked=picked,
                promo_code=promo_code,
                coins=coins,
                at=at,
            )
            if with_options
            else ()
        )
    except CheckoutError as exc:
        raise InvalidOrder(str(exc), code=exc.code) from None
    return CartPricing(priced=priced, coins_balance=buyer.coins, requested_coins=coins, options=options)


def _empty_pricing(currency: str) -> PricedCheckout:
    zero = Decimal("0.00")
    return PricedCheckout(
        currency=currency,
        list_total=zero,
        sale_total=zero,
        steps=(),
        coupons=(),
        promo=None,
        coins=CoinsDecision(requested=0, used=0, amount=zero, reason=Reason.NOT_CHOSEN, message="no coins used"),
        total=zero,
    )


def _coupon_options(*, buyer, cart_lines, discounts, priced, picked, promo_code, coins, at) -> tuple[CouponOption, ...]:
    """Every coupon the member holds, with the engine's decision; for one not picked, what picking it would do.

    The previews run the pure engine on the same inputs (a constant number of queries, whatever the wallet size)."""
    from coupons.selectors import checkout_coupon_inputs, resolve_promo_code
    from referral_portal.templatetags.money import active_money_locale

    inputs = checkout_coupon_inputs(member=buyer, include_ids=picked)
    locale = active_money_locale()
    promo = resolve_promo_code(member=buyer, code=promo_code or "")
    options = []
    for coupon in sorted(inputs, key=lambda c: (c.expires_at, c.id)):
        decision = priced.decision_for(coupon.id)
        shown = decision
        if decision.reason == Reason.NOT_CHOSEN:
            shown = stacking.price_cart(
                lines=cart_lines,
                coupons=inputs,
                chosen_ids=picked | {coupon.id},
                promo=promo,
                coins=coins,
                coins_balance=buyer.coins,
                seller_discounts=discounts,
                at=at,
                currency=priced.currency,
                locale=locale,
            ).decision_for(coupon.id)
        options.append(
            CouponOption(
                coupon_id=coupon.id,
                kind=coupon.kind,
                title=coupon.title,
                value=coupon.value,
                min_spend=coupon.min_spend,
                currency=coupon.currency,
                expires_at=coupon.expires_at,
                store_name=coupon.store_name,
                is_picked=coupon.id in picked,
                applies=decision.applies,
                amount=shown.amount,
                reason=shown.reason,
                message=shown.message,
                can_pick=shown.reason not in NEVER_APPLIES,
            )
        )
    return tuple(options)


def best_coupon_ids(*, lines: Sequence[LineInput], buyer, at: datetime | None = None) -> tuple[int, ...]:
    """The coupons the engine applies when every usable coupon is offered: the page's first suggestion
    (none for a flagged or suspended member, who may not use them)."""
    from coupons.selectors import usable_coupons

    if not _is_member(buyer) or not buyer.may_use_program:
        return ()
    ids = list(usable_coupons(owner=buyer).values_list("pk", flat=True))
    if not ids:
        return ()
    return price_cart(lines=lines, buyer=buyer, coupon_ids=ids, at=at).applied_coupon_ids


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


def suggested_card_label(*, buyer) -> str:
    """The checkout's pre-filled test card: one of the member's own (demo).

    The same label on two accounts is the same card, and a friend's first order paid
    with a card another account used first does not count (PROGRAM_RULES.md section 2):
    a shared default such as "Visa 4242" would void every demo friend's referral.
    """
    return f"Visa {(4242 + (buyer.pk or 0)) % 10000:04d}"


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
    pricing: CartPricing | None = None,
) -> Order:
    """Create an order in state `placed`; exactly one order per buyer is ever `is_first`, even under races.

    The card is kept only as a fingerprint: derived from the test `card_label`
    here, or given by the shop (`card_fingerprint_value`) for shop events.
    `total` is what the shop charged (shop events); else the order costs what
    `pricing` (checkout: priced with the member's picks) or, without it, the
    cart at sale prices and seller discounts says. Spending coupons is `checkout`'s job.
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
    if pricing is None:
        pricing = price_cart(lines=priced_lines, currency=currency, at=occurred_at)
    order = Order(
        buyer=buyer,
        external_id=external_id or new_external_id(),
        state=OrderState.PLACED,
        card=_card_for(buyer=buyer, fingerprint=fingerprint, label=label, at=occurred_at),
        currency=pricing.currency,
        subtotal=pricing.subtotal,
        discount_total=pricing.discount_total,
        coins_used=pricing.coins_used,
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
    if not order.is_first:
        _claim_first_if_earlier(order)
    _notify_referrals(order=order, event=OrderState.PLACED, occurred_at=occurred_at)
    return order


def _claim_first_if_earlier(order: Order) -> None:
    """An order placed before the buyer's first order, heard of later, becomes the first order while the
    referral's outcome is open (PROGRAM_RULES.md section 3: when it happened counts, not when we heard of it).

    1. lock the current first order (a completion or cancel of it waits, and so does another late order);
    2. ask the referral program (`referrals.services.lifecycle.replace_first_order`): it refuses once the
       outcome is final, with a timeline note for staff;
    3. move the flag: clear the old one first (one is_first per buyer, a unique index), then set ours.
    The caller then passes our placed event to the referral program as for any first order.
    """
    if not Order.objects.filter(buyer_id=order.buyer_id, is_first=True, placed_at__gt=order.placed_at).exists():
        return  # the usual case (checkout places orders now): no query takes a lock
    from referrals.services.lifecycle import replace_first_order

    for _attempt in range(5):
        current = Order.objects.select_for_update().filter(buyer_id=order.buyer_id, is_first=True).first()
        if current is not None:
            break
        # Another late order took the flag while we waited for the lock: read again (new snapshot).
    else:
        return
    if current.pk == order.pk or current.placed_at <= order.placed_at:
        return
    if not replace_first_order(old=current, new=order):
        return
    now = timezone.now()
    Order.objects.filter(pk=current.pk).update(is_first=False, updated_at=now)
    Order.objects.filter(pk=order.pk).update(is_first=True, updated_at=now)
    order.is_first = True


@transaction.atomic
def checkout(
    *,
    buyer,
    cart_lines: Sequence[LineInput | tuple[Product, int]],
    coupon_ids: Collection[int] = (),
    promo_code: str | None = None,
    coins: int = 0,
    card_label: str,
    request=None,
    expected_total: Decimal | None = None,
    at: datetime | None = None,
) -> Order:
    """Price again, place the order and spend its coupons, promo code and coins in one transaction: all or nothing,
    and the order's total is the engine's total.

    0. Refuse (CheckoutRefused with the security message, nothing written) any coupon, promo code or
       coins for a flagged or suspended buyer: program benefits (PROGRAM_RULES section 6). They may
       still buy with no picks.
    1. Price the cart with the member's picks (never the form's totals).
    2. Refuse (CheckoutRefused, nothing written) an unknown or unusable promo code,
       coins over the balance or a coupon not in the wallet, and a total other than
       `expected_total` (the one the member saw) when given.
    3. Place the order with that pricing (subtotal, discount_total, coins_used, total, pricing).
    4. Redeem exactly what the engine applied. A coupon, promo use or coins spent
       meanwhile by a concurrent checkout raises CheckoutRefused and rolls back 1–4.
    """
    from coupons.services import RedemptionError, redeem_for_order

    if (coupon_ids or promo_code or coins) and not buyer.may_use_program:
        raise CheckoutRefused(FLAGGED_MESSAGE, code=ReasonCode.ACCOUNT_FLAGGED)
    at = at or timezone.now()
    lines = _to_lines(cart_lines)
    pricing = price_cart(lines=lines, buyer=buyer, coupon_ids=coupon_ids, promo_code=promo_code, coins=coins, at=at)
    for problem in pricing.problems:
        raise CheckoutRefused(problem.message, code=problem.code, field=problem.field)
    if expected_total is not None and expected_total != pricing.total:
        raise CheckoutRefused(
            f"The total is now {stacking.format_amount(pricing.total, pricing.currency)}, "
            f"not the {stacking.format_amount(expected_total, pricing.currency)} you saw. "
            "Check the price breakdown, then pay.",
            code="TOTAL_CHANGED",
        )
    order = place_order(buyer=buyer, lines=lines, card_label=card_label, request=request, pricing=pricing)
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


@transaction.atomic
def cancel(*, order: Order, occurred_at: datetime | None = None) -> Order:
    """Cancel an order that has not shipped yet; canceled before payment, its unexpired coupons, coins and promo
    use go back to the member in the same transaction."""
    from coupons.services import release_for_canceled_order

    order = record_transition(order=order, event=OrderState.CANCELED, occurred_at=occurred_at).order
    # Gives back only when the order is canceled and was never paid (a paid order keeps its coupons).
    release_for_canceled_order(order=order)
    return order


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
    if outcome.changed and event.transition == OrderState.CANCELED:
        from coupons.services import release_for_canceled_order

        # Same rule as a member's cancel: canceled before payment gives coupons, coins and promo use back.
        release_for_canceled_order(order=outcome.order)
    if outcome.changed:
        return f"{event.transition}; order is {outcome.order.state}"
    return outcome.message
