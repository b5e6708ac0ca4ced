"""Checkout stacking engine (docs/program-rules.md section 5): a pure function over plain data.

No database, no clock: the caller passes the cart, the member's coupons, a resolved
promo code, the coins to spend and ``at`` (now); `price_cart` returns every step of
the price with its discount and, for every coupon the member holds, whether it
applies and, if not, why (a reason code plus the sentence the member reads).

Order of the steps, each minimum spend checked on what is left after the steps before:

1. sale prices;
2. automatic seller discounts ("buy X get Y% off", per store);
3. at most one store coupon per store (min spend on that store's subtotal after 1–2);
4. at most one select coupon;
5. at most one platform coupon, or a promo code, which replaces the platform coupon;
6. coins (100 coins = $1, at most 10% of what is left).

A total never goes below 0.01 (one cent): a discount that would take it lower is
cut to leave one cent.

Choice: when a member picks more coupons than a slot allows, the engine keeps the
candidate with the largest discount (ties: sooner expiry, then lower id). Candidates
are sorted before anything is decided, so the order of the picks never changes the
result.

Rounding (Decimal, two places, ``ROUND_HALF_UP``) happens in exactly these places:
- inputs (prices, coupon values, minimum spends) are quantized to cents on entry;
- a seller's percentage discount is rounded half-up to cents, per store;
- the coins cap (10% of what is left) is rounded DOWN to whole cents, so coins never
  pay more than 10%; coins themselves are whole cents (1 coin = 0.01).
Everything else is addition and subtraction of cents, which is exact.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

from lib.errors import DomainError
from lib.money import format_money

CENT = Decimal("0.01")
MIN_TOTAL = CENT
ZERO = Decimal("0.00")
COINS_PER_UNIT = 100  # 100 coins = 1.00 of the currency
COINS_MAX_SHARE = Decimal("0.10")

# Coupon kinds as the engine knows them (same strings as coupons.models.CouponKind).
PLATFORM = "platform"
SELECT = "select"
STORE = "store"
PROMO = "promo"


class Reason:
    """Reason codes: one per rule, the same string reaches the member, the staff screen and the logs."""

    APPLIED = "APPLIED"
    NOT_CHOSEN = "NOT_CHOSEN"
    NOT_IN_WALLET = "NOT_IN_WALLET"
    EXPIRED = "EXPIRED"
    ALREADY_USED = "ALREADY_USED"
    VOIDED = "VOIDED"
    REGION = "REGION_NOT_VALID"
    CURRENCY = "CURRENCY_MISMATCH"
    MIN_SPEND = "MIN_SPEND_NOT_MET"
    STORE_NOT_IN_CART = "STORE_NOT_IN_CART"
    ONE_STORE_PER_STORE = "ONE_STORE_COUPON_PER_STORE"
    ONE_SELECT = "ONE_SELECT_COUPON_PER_ORDER"
    ONE_PLATFORM = "ONE_PLATFORM_COUPON_PER_ORDER"
    PROMO_REPLACED = "PROMO_REPLACED_PLATFORM"
    NOTHING_LEFT = "NOTHING_LEFT_TO_DISCOUNT"
    # Promo codes
    PROMO_UNKNOWN = "PROMO_UNKNOWN"
    PROMO_NOT_STARTED = "PROMO_NOT_STARTED"
    PROMO_ENDED = "PROMO_ENDED"
    PROMO_USED_UP = "PROMO_USED_UP"
    PROMO_MEMBER_LIMIT = "PROMO_MEMBER_LIMIT"
    # Coins
    COINS_CAPPED = "COINS_CAPPED"
    COINS_BALANCE = "COINS_BALANCE"
    COINS_INVALID = "COINS_INVALID"


class CheckoutError(DomainError):
    """A cart the engine cannot price (empty, non-positive prices…); `str()` is the member's message."""

    def __init__(self, message: str, code: str = "INVALID_CART") -> None:
        super().__init__(message, code=code)


# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class CartLine:
    """One cart line; prices are per unit. `sale_price` None means no sale."""

    store_id: int
    store_name: str
    list_price: Decimal
    quantity: int = 1
    sale_price: Decimal | None = None
    name: str = ""


@dataclass(frozen=True)
class SellerDiscount:
    """A seller's automatic discount: buy at least `min_quantity` items of the store, get `percent`% off them."""

    store_id: int
    min_quantity: int
    percent: Decimal
    label: str = ""


@dataclass(frozen=True)
class CouponInput:
    """A coupon the member holds, as plain data (see coupons.selectors.checkout_coupon_inputs)."""

    id: int
    kind: str
    value: Decimal
    min_spend: Decimal
    expires_at: datetime
    status: str = "active"
    currency: str = "USD"
    store_id: int | None = None
    store_name: str = ""
    region_ok: bool = True
    title: str = ""


@dataclass(frozen=True)
class PromoInput:
    """A promo code resolved by the caller (coupons.selectors.resolve_promo_code); `exists` False = unknown code."""

    code: str
    exists: bool = True
    campaign_id: int | None = None
    value: Decimal = ZERO
    min_spend: Decimal = ZERO
    currency: str = "USD"
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    is_active: bool = True
    uses_left: int | None = None  # None: no overall limit
    member_uses_left: int | None = None  # None: no per-member limit
    region_ok: bool = True


# --------------------------------------------------------------------------- outputs


@dataclass(frozen=True)
class Step:
    """One line of the priced breakdown; `amount` is what the step takes off (0 for the sale step's base)."""

    kind: str  # list | sale | seller_discount | store_coupon | select_coupon | platform_coupon | promo_code | coins
    label: str
    amount: Decimal
    remaining: Decimal  # what is left to pay after this step
    store_id: int | None = None
    coupon_id: int | None = None


@dataclass(frozen=True)
class CouponDecision:
    coupon_id: int
    applies: bool
    reason: str
    message: str
    amount: Decimal = ZERO
    kind: str = ""


@dataclass(frozen=True)
class PromoDecision:
    code: str
    applies: bool
    reason: str
    message: str
    amount: Decimal = ZERO
    campaign_id: int | None = None


@dataclass(frozen=True)
class CoinsDecision:
    requested: int
    used: int
    amount: Decimal
    reason: str
    message: str


@dataclass(frozen=True)
class PricedCheckout:
    currency: str
    list_total: Decimal
    sale_total: Decimal
    steps: tuple[Step, ...]
    coupons: tuple[CouponDecision, ...]  # one per held coupon (and per unknown pick), sorted by id
    promo: PromoDecision | None
    coins: CoinsDecision
    total: Decimal
    store_subtotals: dict[int, Decimal] = field(default_factory=dict)  # after steps 1–3, per store

    @property
    def applied_coupon_ids(self) -> tuple[int, ...]:
        return tuple(d.coupon_id for d in self.coupons if d.applies)

    @property
    def sale_savings(self) -> Decimal:
        return self.list_total - self.sale_total

    @property
    def sale_savings_percent(self) -> Decimal:
        """Sale savings as a percentage of the list price, rounded half-up to a whole percent."""
        if not self.list_total:
            return ZERO
        return (self.sale_savings * 100 / self.list_total).quantize(Decimal("1"), ROUND_HALF_UP)

    @property
    def discount_total(self) -> Decimal:
        """Steps 2–6: seller discounts, coupons, promo code and coins."""
        return self.sale_total - self.total

    @property
    def savings_total(self) -> Decimal:
        return self.list_total - self.total

    def decision_for(self, coupon_id: int) -> CouponDecision:
        return next(d for d in self.coupons if d.coupon_id == coupon_id)

    def as_dict(self) -> dict:
        """JSON-friendly form (amounts as strings), e.g. for Order.pricing."""

        def plain(value):
            if isinstance(value, Decimal):
                return str(value)
            if isinstance(value, datetime):
                return value.isoformat()
            if isinstance(value, dict):
                return {str(k): plain(v) for k, v in value.items()}
            if isinstance(value, list | tuple):
                return [plain(v) for v in value]
            return value

        data = plain(asdict(self))
        data.update(
            applied_coupon_ids=list(self.applied_coupon_ids),
            sale_savings=str(self.sale_savings),
            sale_savings_percent=str(self.sale_savings_percent),
            discount_total=str(self.discount_total),
            savings_total=str(self.savings_total),
        )
        return data


# --------------------------------------------------------------------------- helpers


def cents(amount) -> Decimal:
    """Quantize to cents, half-up (the one rounding rule for amounts)."""
    return Decimal(str(amount)).quantize(CENT, ROUND_HALF_UP)


def _cap_to_leave_a_cent(amount: Decimal, remaining: Decimal) -> Decimal:
    """A discount never takes the running total below one cent."""
    return max(ZERO, min(amount, remaining - MIN_TOTAL))


@dataclass
class _Ctx:
    currency: str
    locale: str
    at: datetime

    def money(self, amount: Decimal) -> str:
        # The portal's one money formatter, in the locale the caller passed (the engine reads no request).
        return format_money(amount, self.currency, self.locale)


def _holding_problem(coupon: CouponInput, ctx: _Ctx) -> tuple[str, str] | None:
    """Why a held coupon cannot be used at all in this checkout, whatever the cart; None if it can."""
    if coupon.status == "used":
        return Reason.ALREADY_USED, "already used"
    if coupon.status == "voided":
        return Reason.VOIDED, "no longer valid (voided)"
    if coupon.status == "expired" or ctx.at >= coupon.expires_at:
        return Reason.EXPIRED, "expired"
    if coupon.status != "active":
        return Reason.VOIDED, "no longer valid"
    if not coupon.region_ok:
        return Reason.REGION, "not valid in your region"
    if coupon.currency != ctx.currency:
        return Reason.CURRENCY, f"only for payments in {coupon.currency}"
    return None


def _short_message(short_by: Decimal, minimum: Decimal, ctx: _Ctx) -> str:
    return f"{ctx.money(short_by)} short of the {ctx.money(minimum)} minimum"


def _rank(amount: Decimal, coupon: CouponInput) -> tuple:
    """Sort key of candidates for one slot: largest discount, then sooner expiry, then lower id."""
    return (-amount, coupon.expires_at, coupon.id)


def _choose(
    candidates: Sequence[CouponInput], base: Decimal, remaining: Decimal, ctx: _Ctx
) -> tuple[CouponInput | None, Decimal, dict[int, tuple[str, str]]]:
    """Pick the best applicable coupon of one slot; returns (chosen, amount, {id: (reason, message)} for the rest)."""
    refused: dict[int, tuple[str, str]] = {}
    applicable: list[tuple[tuple, CouponInput, Decimal]] = []
    for coupon in candidates:
        if base < coupon.min_spend:
            refused[coupon.id] = (Reason.MIN_SPEND, _short_message(coupon.min_spend - base, coupon.min_spend, ctx))
            continue
        amount = _cap_to_leave_a_cent(min(coupon.value, base), remaining)
        if amount <= 0:
            refused[coupon.id] = (Reason.NOTHING_LEFT, "nothing left to discount (an order costs at least one cent)")
            continue
        applicable.append((_rank(amount, coupon), coupon, amount))
    if not applicable:
        return None, ZERO, refused
    applicable.sort(key=lambda item: item[0])
    _, chosen, amount = applicable[0]
    return chosen, amount, refused


def _applied_message(amount: Decimal, nominal: Decimal, ctx: _Ctx) -> str:
    if amount < nominal:
        return f"saves {ctx.money(amount)} (capped: what it applies to, and an order costs at least one cent)"
    return f"saves {ctx.money(amount)}"


# --------------------------------------------------------------------------- the engine


def price_cart(
    *,
    lines: Sequence[CartLine],
    coupons: Iterable[CouponInput] = (),
    chosen_ids: Collection[int] = (),
    promo: PromoInput | None = None,
    coins: int = 0,
    coins_balance: int | None = None,
    seller_discounts: Iterable[SellerDiscount] = (),
    at: datetime,
    currency: str = "USD",
    locale: str = "en_US",
) -> PricedCheckout:
    """Price a cart with the member's picks by the stacking rules; pure and deterministic.

    `coupons` are all the coupons the member holds (each gets a decision); `chosen_ids`
    those picked for this order (a set: order of picks does not matter); `coins` the
    coins the member wants to spend, `coins_balance` what they have (None: unchecked).
    """
    ctx = _Ctx(currency=currency, locale=locale, at=at)
    if not lines:
        raise CheckoutError("Your cart is empty.", "EMPTY_CART")

    # 1. Sale prices. Line subtotals are exact (cents × whole quantity).
    list_total = ZERO
    store_totals: dict[int, Decimal] = {}
    store_names: dict[int, str] = {}
    store_quantities: dict[int, int] = {}
    for line in lines:
        if line.quantity < 1:
            raise CheckoutError("Each cart line needs a quantity of at least 1.", "BAD_QUANTITY")
        list_price = cents(line.list_price)
        sale_price = cents(line.sale_price) if line.sale_price is not None else list_price
        if list_price <= 0 or sale_price <= 0:
            raise CheckoutError("Prices must be above zero.", "BAD_PRICE")
        if sale_price > list_price:
            raise CheckoutError("A sale price cannot be above the list price.", "BAD_PRICE")
        list_total += list_price * line.quantity
        store_totals[line.store_id] = store_totals.get(line.store_id, ZERO) + sale_price * line.quantity
        store_names.setdefault(line.store_id, line.store_name)
        store_quantities[line.store_id] = store_quantities.get(line.store_id, 0) + line.quantity
    sale_total = sum(store_totals.values(), ZERO)
    steps: list[Step] = [
        Step(kind="list", label="Items at list price", amount=ZERO, remaining=list_total),
    ]
    if sale_total < list_total:
        steps.append(Step(kind="sale", label="Sale prices", amount=list_total - sale_total, remaining=sale_total))
    remaining = sale_total

    # 2. Automatic seller discounts: the best applicable one per store (percent half-up to cents).
    best_seller: dict[int, tuple[Decimal, SellerDiscount]] = {}
    for discount in seller_discounts:
        subtotal = store_totals.get(discount.store_id)
        if subtotal is None or store_quantities[discount.store_id] < discount.min_quantity:
            continue
        percent = min(max(Decimal(str(discount.percent)), ZERO), Decimal("100"))
        amount = (subtotal * percent / 100).quantize(CENT, ROUND_HALF_UP)
        current = best_seller.get(discount.store_id)
        key = (amount, -discount.min_quantity, discount.label)
        if current is None or key > (current[0], -current[1].min_quantity, current[1].label):
            best_seller[discount.store_id] = (amount, discount)
    for store_id in sorted(best_seller):
        amount, discount = best_seller[store_id]
        amount = _cap_to_leave_a_cent(min(amount, store_totals[store_id]), remaining)
        if amount <= 0:
            continue
        store_totals[store_id] -= amount
        remaining -= amount
        label = discount.label or f"{store_names[store_id]}: buy {discount.min_quantity}, get {discount.percent}% off"
        steps.append(Step(kind="seller_discount", label=label, amount=amount, remaining=remaining, store_id=store_id))

    # Held coupons: de-duplicated by id and sorted, so input order is irrelevant.
    held: dict[int, CouponInput] = {}
    for coupon in coupons:
        held.setdefault(coupon.id, coupon)
    chosen = set(chosen_ids)
    decisions: dict[int, CouponDecision] = {}

    def decide(coupon: CouponInput, reason: str, message: str, amount: Decimal = ZERO) -> None:
        decisions[coupon.id] = CouponDecision(
            coupon_id=coupon.id,
            applies=reason == Reason.APPLIED,
            reason=reason,
            message=message,
            amount=amount,
            kind=coupon.kind,
        )

    for coupon_id in sorted(chosen - held.keys()):
        decisions[coupon_id] = CouponDecision(
            coupon_id=coupon_id, applies=False, reason=Reason.NOT_IN_WALLET, message="not in your wallet"
        )

    usable: dict[str, list[CouponInput]] = {STORE: [], SELECT: [], PLATFORM: []}
    for coupon in sorted(held.values(), key=lambda c: c.id):
        problem = _holding_problem(coupon, ctx)
        if problem is None and coupon.kind == STORE and coupon.store_id not in store_totals:
            name = coupon.store_name or "one store"
            problem = (Reason.STORE_NOT_IN_CART, f"only for items from {name}")
        if problem is not None:
            decide(coupon, *problem)
        elif coupon.id not in chosen:
            decide(coupon, Reason.NOT_CHOSEN, "not chosen for this order")
        else:
            usable[PLATFORM if coupon.kind == PROMO else coupon.kind].append(coupon)

    # 3. Store coupons: at most one per store, min spend on that store's subtotal after steps 1–2.
    for store_id in sorted(store_totals):
        candidates = [c for c in usable[STORE] if c.store_id == store_id]
        if not candidates:
            continue
        best, amount, refused = _choose(candidates, store_totals[store_id], remaining, ctx)
        for coupon in candidates:
            if best is not None and coupon.id == best.id:
                store_totals[store_id] -= amount
                remaining -= amount
                decide(coupon, Reason.APPLIED, _applied_message(amount, coupon.value, ctx), amount)
                label = coupon.title or f"Store coupon ({store_names[store_id]})"
                steps.append(
                    Step(
                        kind="store_coupon",
                        label=label,
                        amount=amount,
                        remaining=remaining,
                        store_id=store_id,
                        coupon_id=coupon.id,
                    )
                )
            elif coupon.id in refused:
                decide(coupon, *refused[coupon.id])
            else:
                decide(coupon, Reason.ONE_STORE_PER_STORE, "one store coupon per store")

    # 4. One select coupon per order, min spend on what is left after step 3.
    remaining = _apply_slot(
        usable[SELECT],
        kind="select_coupon",
        default_label="Select coupon",
        too_many=(Reason.ONE_SELECT, "one select coupon per order"),
        remaining=remaining,
        ctx=ctx,
        steps=steps,
        decide=decide,
    )

    # 5. One platform coupon per order, or a promo code, which replaces it when it applies.
    promo_decision: PromoDecision | None = None
    if promo is not None:
        promo_decision = _decide_promo(promo, remaining, ctx)
    if promo_decision is not None and promo_decision.applies:
        remaining -= promo_decision.amount
        steps.append(
            Step(
                kind="promo_code",
                label=f"Promo code {promo_decision.code}",
                amount=promo_decision.amount,
                remaining=remaining,
            )
        )
        for coupon in usable[PLATFORM]:
            decide(coupon, Reason.PROMO_REPLACED, "your promo code replaced the platform coupon")
    else:
        remaining = _apply_slot(
            usable[PLATFORM],
            kind="platform_coupon",
            default_label="Platform coupon",
            too_many=(Reason.ONE_PLATFORM, "one platform coupon per order"),
            remaining=remaining,
            ctx=ctx,
            steps=steps,
            decide=decide,
        )

    # 6. Coins: 100 coins = 1.00, at most 10% of what is left (cap rounded down), total stays >= 0.01.
    coins_decision = _decide_coins(coins, coins_balance, remaining, ctx)
    if coins_decision.used:
        remaining -= coins_decision.amount
        steps.append(
            Step(kind="coins", label=f"{coins_decision.used} coins", amount=coins_decision.amount, remaining=remaining)
        )

    return PricedCheckout(
        currency=currency,
        list_total=list_total,
        sale_total=sale_total,
        steps=tuple(steps),
        coupons=tuple(decisions[k] for k in sorted(decisions)),
        promo=promo_decision,
        coins=coins_decision,
        total=remaining,
        store_subtotals=dict(sorted(store_totals.items())),
    )


def _apply_slot(
    candidates: list[CouponInput],
    *,
    kind: str,
    default_label: str,
    too_many: tuple[str, str],
    remaining: Decimal,
    ctx: _Ctx,
    steps: list[Step],
    decide,
) -> Decimal:
    """Steps 4 and 5: one coupon of this kind per order, min spend on what is left so far; returns what is left."""
    if not candidates:
        return remaining
    best, amount, refused = _choose(candidates, remaining, remaining, ctx)
    for coupon in candidates:
        if best is not None and coupon.id == best.id:
            decide(coupon, Reason.APPLIED, _applied_message(amount, coupon.value, ctx), amount)
            steps.append(
                Step(
                    kind=kind,
                    label=coupon.title or default_label,
                    amount=amount,
                    remaining=remaining - amount,
                    coupon_id=coupon.id,
                )
            )
        elif coupon.id in refused:
            decide(coupon, *refused[coupon.id])
        else:
            decide(coupon, *too_many)
    return remaining - amount


def promo_not_valid_message(code: str) -> str:
    """The one answer to a promo code that cannot be used now, whatever the reason."""
    return f"the promo code {code} is not valid or no longer offered"


def _decide_promo(promo: PromoInput, remaining: Decimal, ctx: _Ctx) -> PromoDecision:
    code = promo.code.strip().upper()

    def refuse(reason: str, message: str) -> PromoDecision:
        return PromoDecision(code=code, applies=False, reason=reason, message=message, campaign_id=promo.campaign_id)

    # One answer for a code that never existed, has not started, has ended or ran out (the reason code stays for
    # staff): the words must not tell a guesser which codes are real (docs/program-rules.md section 5).
    not_valid = promo_not_valid_message(code)
    if not promo.exists or not promo.is_active:
        return refuse(Reason.PROMO_UNKNOWN, not_valid)
    if promo.starts_at is not None and ctx.at < promo.starts_at:
        return refuse(Reason.PROMO_NOT_STARTED, not_valid)
    if promo.ends_at is not None and ctx.at >= promo.ends_at:
        return refuse(Reason.PROMO_ENDED, not_valid)
    if promo.uses_left is not None and promo.uses_left <= 0:
        return refuse(Reason.PROMO_USED_UP, not_valid)
    if promo.member_uses_left is not None and promo.member_uses_left <= 0:
        return refuse(Reason.PROMO_MEMBER_LIMIT, f"you have already used the promo code {code}")
    if not promo.region_ok:
        return refuse(Reason.REGION, "not valid in your region")
    if promo.currency != ctx.currency:
        return refuse(Reason.CURRENCY, f"only for payments in {promo.currency}")
    value, minimum = cents(promo.value), cents(promo.min_spend)
    if remaining < minimum:
        return refuse(Reason.MIN_SPEND, _short_message(minimum - remaining, minimum, ctx))
    amount = _cap_to_leave_a_cent(min(value, remaining), remaining)
    if amount <= 0:
        return refuse(Reason.NOTHING_LEFT, "nothing left to discount (an order costs at least one cent)")
    return PromoDecision(
        code=code,
        applies=True,
        reason=Reason.APPLIED,
        message=_applied_message(amount, value, ctx),
        amount=amount,
        campaign_id=promo.campaign_id,
    )


def coins_cap(remaining: Decimal) -> int:
    """Most coins usable on `remaining`: 10% of it rounded DOWN to a cent, and the total keeps one cent."""
    share = (remaining * COINS_MAX_SHARE).quantize(CENT, ROUND_DOWN)
    share = min(share, max(ZERO, remaining - MIN_TOTAL))
    return int(share * COINS_PER_UNIT)


def _decide_coins(requested: int, balance: int | None, remaining: Decimal, ctx: _Ctx) -> CoinsDecision:
    if not isinstance(requested, int) or isinstance(requested, bool) or requested < 0:
        return CoinsDecision(
            requested=0,
            used=0,
            amount=ZERO,
            reason=Reason.COINS_INVALID,
            message="coins must be a whole number, 0 or more",
        )
    if requested == 0:
        return CoinsDecision(requested=0, used=0, amount=ZERO, reason=Reason.NOT_CHOSEN, message="no coins used")
    used, reason, message = requested, Reason.APPLIED, ""
    if balance is not None and used > balance:
        used, reason = balance, Reason.COINS_BALANCE
        message = f"you have {balance} coins"
    cap = coins_cap(remaining)
    if used > cap:
        used, reason = cap, Reason.COINS_CAPPED
        message = f"coins can pay at most 10% of what is left: {cap} coins ({ctx.money(Decimal(cap) / COINS_PER_UNIT)})"
    amount = (Decimal(used) / COINS_PER_UNIT).quantize(CENT)
    if reason == Reason.APPLIED:
        message = f"{used} coins save {ctx.money(amount)}"
    return CoinsDecision(requested=requested, used=used, amount=amount, reason=reason, message=message)
