"""Concurrent checkouts on PostgreSQL: real threads released together by a Barrier, exact counts asserted."""

from __future__ import annotations

import contextlib
import threading
from decimal import Decimal
from unittest import mock

import pytest

from accounts.models import User
from coupons.models import Coupon, LedgerEntry
from coupons.pricing import CheckoutRefused
from flows import orders as flows
from orders.models import Order
from tests.concurrency import race
from tests.factories import CampaignFactory, CouponFactory, ProductFactory, UserFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
D = Decimal


def checkout_as(member_id: int, product_id: int, **picks):
    from orders.models import Product

    buyer = User.objects.get(pk=member_id)  # each thread its own instance and connection
    product = Product.objects.select_related("store").get(pk=product_id)
    return flows.checkout(member=buyer, cart_lines=[(product, 1)], card_label="Visa 4242", **picks)


@pytest.mark.parametrize("attempt", range(3))
@pytest.mark.parametrize("priced_together", [True, False], ids=["both-priced-first", "free-race"])
def test_two_checkouts_with_the_same_coupon_one_order_pays_with_it(attempt, priced_together):
    member = UserFactory()
    product = ProductFactory(price=D("100.00"), sale_price=D("70.00"))
    coupon = CouponFactory(owner=member, value=D("5.00"), min_spend=D("20.00"))
    real_place_order = flows.place_order
    priced = threading.Barrier(2)

    def place_after_both_priced(**kwargs):
        # Both checkouts have priced the coupon as usable before either places its order.
        priced.wait(timeout=10)
        return real_place_order(**kwargs)

    patch = mock.patch("flows.orders.place_order", side_effect=place_after_both_priced)
    with patch if priced_together else contextlib.nullcontext():
        results = race(2, lambda i: checkout_as(member.pk, product.pk, coupon_ids=[coupon.pk], expected_total=D("65")))
    orders = [r for r in results if isinstance(r, Order)]
    refusals = [r for r in results if not isinstance(r, Order)]
    assert len(orders) == 1, results
    assert len(refusals) == 1 and isinstance(refusals[0], CheckoutRefused), results
    # Priced before the winner committed: the redemption refuses it. Priced after: the total it saw changed.
    assert refusals[0].code in ({"COUPON_UNAVAILABLE"} if priced_together else {"COUPON_UNAVAILABLE", "TOTAL_CHANGED"})
    # Exactly one order exists (the loser's rolled back), it pays with the coupon, at the engine's total.
    assert list(Order.objects.values_list("pk", flat=True)) == [orders[0].pk]
    assert Order.objects.get().total == D("65.00") and Order.objects.get().is_first
    coupon = Coupon.objects.get(pk=coupon.pk)
    assert (coupon.status, coupon.used_order_id) == ("used", orders[0].pk)
    assert LedgerEntry.objects.filter(coupon=coupon, event="used").count() == 1


def test_many_checkouts_spending_coins_never_overdraw_and_each_order_matches_what_it_took():
    member = UserFactory(coins=1_500)
    product = ProductFactory(price=D("100.00"))
    results = race(5, lambda i: checkout_as(member.pk, product.pk, coins=600))
    orders = [r for r in results if isinstance(r, Order)]
    assert len(orders) == 2  # 1,500 covers two spends of 600
    assert all(isinstance(r, CheckoutRefused) for r in results if not isinstance(r, Order))
    assert User.objects.get(pk=member.pk).coins == 300
    assert sorted(Order.objects.values_list("total", flat=True)) == [D("94.00"), D("94.00")]


def test_a_promo_code_with_one_use_left_goes_to_one_checkout():
    CampaignFactory(code="LAST", value=D("10.00"), usage_limit=1, per_member_limit=1)
    members = [UserFactory() for _ in range(4)]
    product = ProductFactory(price=D("50.00"))
    results = race(4, lambda i: checkout_as(members[i].pk, product.pk, promo_code="LAST"))
    assert sum(isinstance(r, Order) for r in results) == 1
    assert Order.objects.count() == 1 and Order.objects.get().total == D("40.00")
