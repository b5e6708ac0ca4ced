"""Checkout pricing: a cart priced by the stacking rules with the member's picks (docs/program-rules.md section 5).

Read only. `price_cart` is the one place a checkout's price comes from: the cart page, the checkout page,
placing an order (flows.orders.checkout) and shop events all go through it. The rules themselves are the
pure engine in `coupons.stacking`; this module gathers the member's wallet for it and shapes its result for
the pages and for the order (`coupons.cart_pricing.CartPricing`).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from decimal import Decimal
from typing import TypeGuard

from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from accounts.selectors import region_for_country
from coupons import stacking
from coupons.cart_pricing import NEVER_APPLIES, CartPricing, CouponOption
from coupons.selectors import checkout_coupon_inputs, resolve_promo_code, usable_coupons
from coupons.stacking import CartLine, CheckoutError, CoinsDecision, PricedCheckout, Reason, SellerDiscount
from lib.errors import DomainError
from lib.money import active_money_locale
from orders.errors import InvalidOrder
from orders.models import Product
from orders.services.lines import LineInput, cart_currency, to_lines


class CheckoutRefused(DomainError):
    """Nothing was placed: a pick can't be used (now), or the total is not the one the member saw.

    `field` names the checkout form field at fault (coupons, promo_code, coins), if any."""

    code = "CHECKOUT_REFUSED"

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None) -> None:
        super().__init__(message, code=code)
        self.field = field


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
    discounts = []
    for store in stores.values():
        min_quantity, percent = store.auto_discount_min_quantity, store.auto_discount_percent
        if min_quantity is None or percent is None:  # no automatic discount (Store.has_auto_discount)
            continue
        discounts.append(
            SellerDiscount(
                store_id=store.pk, min_quantity=min_quantity, percent=percent, label=store.auto_discount_label
            )
        )
    return discounts


def _is_member(member: object) -> TypeGuard[User]:
    """A signed-in member (pages may pass an anonymous user or None)."""
    return member is not None and bool(getattr(member, "is_authenticated", False))


def price_checkout(
    *,
    member: User,
    cart_lines: Sequence[CartLine],
    coupon_ids: Collection[int] = (),
    promo_code: str | None = None,
    coins: int = 0,
    at: datetime | None = None,
    seller_discounts: Sequence[SellerDiscount] = (),
    currency: str | None = None,
) -> PricedCheckout:
    """Price a cart for a member with their picks (read only); raises stacking.CheckoutError for an unpriceable cart."""
    at = at or timezone.now()
    currency = currency or region_for_country(str(member.country)).currency
    return stacking.price_cart(
        lines=cart_lines,
        coupons=checkout_coupon_inputs(member=member, include_ids=coupon_ids),
        chosen_ids=set(coupon_ids),
        promo=resolve_promo_code(member=member, code=promo_code or ""),
        coins=coins,
        coins_balance=member.coins,
        seller_discounts=seller_discounts,
        at=at,
        currency=currency,
        locale=active_money_locale(),  # the engine's messages in the reader's locale, like the page's amounts
    )


def price_cart(
    *,
    lines: Sequence[LineInput | tuple[Product, int]],
    member: User | None = None,
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
    price_checkout. `with_options` also lists every coupon the
    member holds with whether it applies (or would if picked) and why not.
    Raises InvalidOrder for a cart the engine can't price (empty, bad prices).
    """
    priced_lines = to_lines(lines)
    at = at or timezone.now()
    currency = cart_currency(priced_lines, currency)
    if not priced_lines:  # an empty cart costs nothing (the engine refuses to price one)
        return CartPricing(priced=_empty_pricing(currency))
    cart_lines = _cart_lines(priced_lines)
    discounts = seller_discounts_for(priced_lines)
    picked = {int(i) for i in coupon_ids}
    try:
        if not _is_member(member):
            return CartPricing(
                priced=stacking.price_cart(
                    lines=cart_lines, seller_discounts=discounts, at=at, currency=currency, locale=active_money_locale()
                )
            )
        priced = price_checkout(
            member=member,
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
                member=member,
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
    return CartPricing(priced=priced, coins_balance=member.coins, requested_coins=coins, options=options)


def _empty_pricing(currency: str) -> PricedCheckout:
    zero = Decimal("0.00")
    return PricedCheckout(
        currency=currency,
        list_total=zero,
        sale_total=zero,
        steps=(),
        coupons=(),
        promo=None,
        coins=CoinsDecision(requested=0, used=0, amount=zero, reason=Reason.NOT_CHOSEN, message=_("no coins used")),
        total=zero,
    )


def _coupon_options(
    *, member, cart_lines, discounts, priced, picked, promo_code, coins, at
) -> tuple[CouponOption, ...]:
    """Every coupon the member holds, with the engine's decision; for one not picked, what picking it would do.

    The previews run the pure engine on the same inputs (a constant number of queries, whatever the wallet size)."""
    inputs = checkout_coupon_inputs(member=member, include_ids=picked)
    locale = active_money_locale()
    promo = resolve_promo_code(member=member, code=promo_code or "")
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
                coins_balance=member.coins,
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


def best_coupon_ids(*, lines: Sequence[LineInput], member: User | None, at: datetime | None = None) -> tuple[int, ...]:
    """The coupons the engine applies when every usable coupon is offered: the page's first suggestion
    (none for a flagged or suspended member, who may not use them)."""
    if not _is_member(member) or not member.may_use_program:
        return ()
    ids = list(usable_coupons(member=member).values_list("pk", flat=True))
    if not ids:
        return ()
    return price_cart(lines=lines, member=member, coupon_ids=ids, at=at).applied_coupon_ids
