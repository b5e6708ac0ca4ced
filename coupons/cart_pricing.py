"""A priced cart as the pages and the order see it: steps, coupon options and the problems of a pick."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.utils.formats import number_format
from django.utils.translation import gettext as _

from coupons.stacking import PricedCheckout, Reason, coins_cap
from orders.services.placing import OrderAmounts

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
                label=_("Sale savings") if s.kind == "sale" else s.label,
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
            out.append(PickProblem("coupons", Reason.NOT_IN_WALLET, _("A coupon you picked is not in your wallet.")))
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
                    _("You asked for %(requested)s coins but have %(balance)s.")
                    % {
                        "requested": number_format(self.requested_coins, force_grouping=True),
                        "balance": number_format(self.coins_balance, force_grouping=True),
                    },
                )
            )
        return out

    def as_json(self) -> dict:
        """What Order.pricing keeps: the engine's breakdown (PricedCheckout.as_dict())."""
        return self.priced.as_dict()

    def amounts(self) -> OrderAmounts:
        """What the order keeps of this price (orders.services.placing.place_order)."""
        return OrderAmounts(
            currency=self.currency,
            subtotal=self.subtotal,
            discount_total=self.discount_total,
            coins_used=self.coins_used,
            total=self.total,
            pricing=self.as_json(),
        )


def _sentence(message: str) -> str:
    message = message.strip()
    return (message[:1].upper() + message[1:] + ("" if message.endswith((".", "!", "?")) else ".")) if message else ""
