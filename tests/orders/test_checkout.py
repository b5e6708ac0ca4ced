"""Checkout services: one pricing path, price + place + redeem in one transaction, cancel/refund and coupons
(docs/program-rules.md sections 4 and 5)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from unittest import mock

import pytest
import time_machine
from django.utils import timezone

from accounts.models import User
from coupons.models import Campaign, Coupon, LedgerEntry, PromoRedemption
from coupons.pricing import CheckoutRefused, best_coupon_ids, price_cart
from coupons.stacking import Reason
from flows import orders as flows
from flows.order_events import receive_order_event
from orders.models import Order, Store
from orders.services.lines import LineInput
from referrals.services.lifecycle import FirstOrderOutcome
from tests.factories import CampaignFactory, CouponFactory, ProductFactory, StoreFactory, UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.member(coins=500, signed_in=False)]
D = Decimal


@pytest.fixture
def store():
    return StoreFactory(name="Northwind", slug="northwind")


@pytest.fixture
def wallet(member, store):
    """The worked example's coupons: a store coupon of the shoes' store and a referral coupon."""
    return {
        "store": CouponFactory(
            owner=member, kind="store", source="store", store=store, value=D("3.00"), min_spend=D("0")
        ),
        "referral": CouponFactory(owner=member, source="referral", value=D("5.00"), min_spend=D("20.00")),
    }


def buy(member, product, quantity=1, **picks):
    picks.setdefault("card_label", "Visa 4242")
    return flows.checkout(member=member, cart_lines=[(product, quantity)], **picks)


def state_of(*objs):
    for obj in objs:
        obj.refresh_from_db()
    return objs


# --------------------------------------------------------------------------- pricing


def test_price_cart_reproduces_the_worked_example(member, shoes, wallet):
    pricing = price_cart(lines=[(shoes, 1)], member=member, coupon_ids=[c.pk for c in wallet.values()], coins=50)
    assert [(s.code, s.amount) for s in pricing.steps] == [
        ("SALE", D("30.00")),
        ("STORE_COUPON", D("3.00")),
        ("PLATFORM_COUPON", D("5.00")),
        ("COINS", D("0.50")),
    ]
    assert pricing.total == D("61.50")
    assert (pricing.sale_savings_percent, pricing.other_savings) == (D("30"), D("8.50"))
    assert pricing.subtotal - pricing.discount_total == pricing.total
    assert pricing.problems == []


def test_price_cart_without_a_member_prices_sale_and_seller_discounts_only(shoes, member, wallet):
    pricing = price_cart(lines=[(shoes, 2)], coupon_ids=[wallet["referral"].pk])
    assert pricing.total == D("140.00") and pricing.applied_coupon_ids == ()
    empty = price_cart(lines=[], member=member)
    assert (empty.total, empty.steps) == (D("0.00"), [])


def test_seller_discount_comes_before_store_coupon_minimum(member):
    kitchen = StoreFactory(
        name="Bright Kitchen", slug="bright", auto_discount_min_quantity=2, auto_discount_percent=D("10")
    )
    knife = ProductFactory(store=kitchen, price=D("50.00"))
    coupon = CouponFactory(owner=member, kind="store", source="store", store=kitchen, min_spend=D("95.00"))
    one = price_cart(lines=[(knife, 1)], member=member, coupon_ids=[coupon.pk])
    assert [s.code for s in one.steps] == [] and one.total == D("50.00")
    two = price_cart(lines=[(knife, 2)], member=member, coupon_ids=[coupon.pk])
    assert [(s.code, s.label, s.amount) for s in two.steps] == [
        ("SELLER_DISCOUNT", "Bright Kitchen: buy 2, get 10% off", D("10.00"))
    ]
    # 100 − 10% = 90 left for the store: $5 short of the coupon's $95 minimum.
    assert two.priced.decision_for(coupon.pk).reason == Reason.MIN_SPEND
    assert two.total == D("90.00")


def test_store_auto_discount_is_both_fields_or_none():
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        Store.objects.create(name="Half", slug="half", auto_discount_min_quantity=2)
    with pytest.raises(IntegrityError), transaction.atomic():
        Store.objects.create(name="Over", slug="over", auto_discount_min_quantity=2, auto_discount_percent=D("101"))


def test_options_list_every_coupon_held_with_why(member, shoes, store):
    other_store = StoreFactory(name="Bolt Bikes", slug="bolt")
    applies = CouponFactory(owner=member, title="Referral reward", min_spend=D("20.00"))
    short = CouponFactory(owner=member, kind="select", title="Select", min_spend=D("80.00"))
    elsewhere = CouponFactory(owner=member, kind="store", source="store", store=other_store, min_spend=D("0"))
    lapsed = CouponFactory(
        owner=member, issued_at=timezone.now() - timedelta(days=31), expires_at=timezone.now() - timedelta(days=1)
    )
    bigger = CouponFactory(owner=member, value=D("6.00"), min_spend=D("50.00"))
    CouponFactory(title="Someone else's")  # never listed
    pricing = price_cart(lines=[(shoes, 1)], member=member, coupon_ids=[applies.pk], with_options=True)
    options = {o.coupon_id: o for o in pricing.options}
    assert set(options) == {applies.pk, short.pk, elsewhere.pk, lapsed.pk, bigger.pk}
    assert options[applies.pk].applies and options[applies.pk].is_picked
    assert options[short.pk].reason == Reason.MIN_SPEND and options[short.pk].can_pick
    assert options[short.pk].message == "$10.00 short of the $80.00 minimum"
    assert options[elsewhere.pk].message == "only for items from Bolt Bikes" and not options[elsewhere.pk].can_pick
    assert options[lapsed.pk].reason == Reason.EXPIRED and not options[lapsed.pk].can_pick
    # Not picked: what picking it would do (it would replace the $5 platform coupon).
    assert options[bigger.pk].reason == Reason.APPLIED and options[bigger.pk].amount == D("6.00")
    assert not options[bigger.pk].applies


def test_best_coupon_ids_are_what_the_engine_applies_from_the_whole_wallet(member, shoes, wallet):
    CouponFactory(owner=member, value=D("4.00"), min_spend=D("0"))  # loses the platform slot to the $5
    assert set(best_coupon_ids(lines=[LineInput.for_product(shoes, 1)], member=member)) == {
        wallet["store"].pk,
        wallet["referral"].pk,
    }


# --------------------------------------------------------------------------- placing


def test_checkout_places_the_order_at_the_engine_total_and_spends_the_picks(member, shoes, wallet):
    order = buy(member, shoes, coupon_ids=[c.pk for c in wallet.values()], coins=50)
    assert (order.subtotal, order.discount_total, order.coins_used, order.total) == (
        D("100.00"),
        D("38.50"),
        50,
        D("61.50"),
    )
    assert order.pricing["total"] == "61.50"
    assert sorted(order.pricing["applied_coupon_ids"]) == sorted(c.pk for c in wallet.values())
    for coupon in state_of(*wallet.values()):
        assert (coupon.status, coupon.used_order_id) == ("used", order.pk)
    assert User.objects.get(pk=member.pk).coins == 450
    assert LedgerEntry.objects.filter(order=order, event="used").count() == 3  # two coupons + coins


def test_checkout_redeems_only_what_applied(member, shoes):
    best = CouponFactory(owner=member, value=D("5.00"), min_spend=D("0"))
    second = CouponFactory(owner=member, value=D("4.00"), min_spend=D("0"))  # one platform coupon per order
    too_big = CouponFactory(owner=member, kind="select", min_spend=D("500.00"))
    order = buy(member, shoes, coupon_ids=[best.pk, second.pk, too_big.pk], coins=500)
    best, second, too_big = state_of(best, second, too_big)
    assert best.status == "used" and second.status == "active" and too_big.status == "active"
    # 500 coins fit under the cap (10% of the 65.00 left = 650 coins).
    assert (order.coins_used, order.total) == (500, D("60.00"))


def test_coins_are_capped_at_ten_percent_of_what_is_left(shoes):
    rich = UserFactory(coins=5_000)
    order = buy(rich, shoes, coins=5_000)
    assert order.coins_used == 700 and order.total == D("63.00")
    assert User.objects.get(pk=rich.pk).coins == 4_300


def test_promo_code_replaces_the_platform_coupon_and_is_counted(member, shoes, wallet):
    campaign = CampaignFactory(code="WELCOME10", value=D("10.00"), min_spend=D("50.00"), usage_limit=5)
    order = buy(member, shoes, coupon_ids=[wallet["referral"].pk], promo_code="welcome10")
    assert order.total == D("60.00")
    (referral,) = state_of(wallet["referral"])
    assert referral.status == "active"  # replaced, not spent
    campaign.refresh_from_db()
    assert campaign.used_count == 1
    assert PromoRedemption.objects.get(order=order).member_id == member.pk


@pytest.mark.parametrize(
    ("picks", "field", "code"),
    [
        ({"promo_code": "NOPE"}, "promo_code", Reason.PROMO_UNKNOWN),
        ({"coins": 501}, "coins", Reason.COINS_BALANCE),
        ({"coins": -1}, "coins", Reason.COINS_INVALID),
        ("foreign", "coupons", Reason.NOT_IN_WALLET),
    ],
)
def test_invalid_picks_are_refused_and_nothing_is_written(member, shoes, wallet, picks, field, code):
    if picks == "foreign":
        picks = {"coupon_ids": [CouponFactory(min_spend=D("0")).pk]}
    with pytest.raises(CheckoutRefused) as exc:
        buy(member, shoes, **picks)
    assert (exc.value.field, exc.value.code) == (field, code)
    assert exc.value.message and not Order.objects.exists()
    assert User.objects.get(pk=member.pk).coins == 500


@pytest.mark.parametrize("status", ["flagged", "suspended"])
@pytest.mark.parametrize(
    "picks",
    [
        pytest.param("referral", id="referral-coupon"),
        pytest.param("store", id="store-coupon"),
        pytest.param({"promo_code": "SPRING5"}, id="promo-code"),
        pytest.param({"coins": 50}, id="coins"),
    ],
)
def test_a_flagged_buyer_gets_no_program_benefit_and_nothing_is_claimed(member, shoes, wallet, status, picks):
    """docs/program-rules.md section 6 at the service: the view is not the only guard."""
    from referrals.reasons import FLAGGED_MESSAGE

    campaign = CampaignFactory(code="SPRING5", value=D("5.00"), min_spend=D("0"))
    member.status = status
    member.save(update_fields=["status"])
    if isinstance(picks, str):
        picks = {"coupon_ids": [wallet[picks].pk]}
    with pytest.raises(CheckoutRefused) as exc:
        buy(member, shoes, **picks)
    assert (exc.value.message, exc.value.code, exc.value.field) == (FLAGGED_MESSAGE, "ACCOUNT_FLAGGED", None)
    assert not Order.objects.exists() and not PromoRedemption.objects.exists()
    assert set(Coupon.objects.filter(owner=member).values_list("status", flat=True)) == {"active"}
    assert User.objects.get(pk=member.pk).coins == 500
    assert Campaign.objects.get(pk=campaign.pk).used_count == 0
    assert best_coupon_ids(lines=[LineInput.for_product(shoes, 1)], member=member) == ()
    # Plain shopping stays open: the sale price, nothing from the wallet.
    order = buy(member, shoes)
    assert (order.total, order.coins_used) == (D("70.00"), 0)
    assert set(Coupon.objects.filter(owner=member).values_list("status", flat=True)) == {"active"}


def test_a_promo_code_short_of_its_minimum_is_refused_by_name(member, shoes):
    CampaignFactory(code="BIG", value=D("20.00"), min_spend=D("100.00"))
    with pytest.raises(CheckoutRefused, match=r"\$30.00 short of the \$100.00 minimum"):
        buy(member, shoes, promo_code="BIG")


def test_a_total_the_member_did_not_see_is_refused(member, shoes, wallet):
    with pytest.raises(CheckoutRefused, match=r"The total is now \$65.00, not the \$61.50 you saw") as exc:
        buy(member, shoes, coupon_ids=[wallet["referral"].pk], expected_total=D("61.50"))
    assert exc.value.code == "TOTAL_CHANGED" and not Order.objects.exists()
    order = buy(member, shoes, coupon_ids=[wallet["referral"].pk], expected_total=D("65.00"))
    assert order.total == D("65.00")


def test_a_coupon_spent_meanwhile_rolls_the_whole_checkout_back(member, shoes, wallet):
    """Another checkout uses the coupon between pricing and redeeming: no order, no coins taken, nothing used."""
    real_price_cart = price_cart
    other_order = Order.objects.create(buyer=UserFactory(), external_id="OTHER-1")

    def price_then_lose_the_coupon(**kwargs):
        pricing = real_price_cart(**kwargs)
        Coupon.objects.filter(pk=wallet["referral"].pk).update(status="used", used_order=other_order)
        return pricing

    with (
        mock.patch("flows.orders.price_cart", side_effect=price_then_lose_the_coupon),
        mock.patch("referrals.services.lifecycle.record_first_order_event", return_value=FirstOrderOutcome()) as hook,
        pytest.raises(CheckoutRefused, match="can't be used on this order") as exc,
    ):
        buy(member, shoes, coupon_ids=[c.pk for c in wallet.values()], coins=50)
    assert exc.value.code == "COUPON_UNAVAILABLE"
    assert hook.called  # the order was placed inside the transaction…
    assert list(Order.objects.values_list("external_id", flat=True)) == ["OTHER-1"]  # …and rolled back
    (store_coupon,) = state_of(wallet["store"])
    assert store_coupon.status == "active"
    assert User.objects.get(pk=member.pk).coins == 500
    assert not LedgerEntry.objects.filter(event="used").exists()


def test_checkout_order_total_equals_engine_total_for_many_carts(member):
    """Property-style sweep: whatever the cart and picks, the order costs exactly what price_cart said."""
    stores = [StoreFactory(auto_discount_min_quantity=2, auto_discount_percent=D("15")), StoreFactory()]
    products = [
        ProductFactory(store=stores[0], price=D("19.99"), sale_price=D("17.49")),
        ProductFactory(store=stores[1], price=D("7.35")),
        ProductFactory(store=stores[1], price=D("120.00"), sale_price=D("99.90")),
    ]
    User.objects.filter(pk=member.pk).update(coins=100_000)
    member.refresh_from_db()
    for n, quantities in enumerate([(1, 0, 0), (2, 1, 0), (3, 2, 1), (0, 1, 0), (5, 0, 2)]):
        coupons = [
            CouponFactory(owner=member, kind="store", source="store", store=stores[0], value=D("2.50"), min_spend=0),
            CouponFactory(owner=member, kind="select", value=D("3.33"), min_spend=D("10.00")),
            CouponFactory(owner=member, value=D("5.00"), min_spend=D("20.00")),
        ]
        lines = [(p, q) for p, q in zip(products, quantities, strict=True) if q]
        picks = {"coupon_ids": [c.pk for c in coupons], "coins": 137 * n}
        expected = price_cart(lines=lines, member=member, **picks)
        order = flows.checkout(member=member, cart_lines=lines, card_label="Visa 4242", **picks)
        assert order.total == expected.total
        assert order.subtotal - order.discount_total == order.total
        member.refresh_from_db()


# --------------------------------------------------------------------------- cancel and refund


def test_cancel_before_payment_gives_back_coupons_coins_and_promo(member, shoes, wallet):
    campaign = CampaignFactory(code="SPRING", value=D("2.00"), min_spend=D("0"))
    order = buy(member, shoes, coupon_ids=[wallet["store"].pk], coins=50, promo_code="spring")
    flows.cancel(order=order)
    for coupon in state_of(*wallet.values()):
        assert (coupon.status, coupon.used_order_id) == ("active", None)
    assert User.objects.get(pk=member.pk).coins == 500
    campaign.refresh_from_db()
    assert campaign.used_count == 0
    # …and they can be used again.
    again = buy(member, shoes, coupon_ids=[wallet["store"].pk], coins=50, promo_code="spring")
    assert again.total == order.total


def test_cancel_before_payment_does_not_return_a_coupon_past_its_expiry(member, shoes, wallet):
    order = buy(member, shoes, coupon_ids=[wallet["referral"].pk])
    with time_machine.travel(wallet["referral"].expires_at + timedelta(seconds=1)):
        flows.cancel(order=order)
    (coupon,) = state_of(wallet["referral"])
    assert coupon.status == "expired"


def test_cancel_after_payment_and_refund_keep_the_coupons_spent(member, shoes, wallet):
    paid = buy(member, shoes, coupon_ids=[wallet["store"].pk], coins=20)
    flows.pay(order=paid)
    flows.cancel(order=paid)
    refunded = buy(member, shoes, coupon_ids=[wallet["referral"].pk], coins=30)
    flows.pay(order=refunded)
    flows.refund(order=refunded)
    store_coupon, referral = state_of(wallet["store"], wallet["referral"])
    assert (store_coupon.status, store_coupon.used_order_id) == ("used", paid.pk)
    assert (referral.status, referral.used_order_id) == ("used", refunded.pk)
    assert User.objects.get(pk=member.pk).coins == 450
    assert not LedgerEntry.objects.filter(event="returned").exists()


def test_a_failed_release_rolls_the_cancel_back(member, shoes, wallet):
    order = buy(member, shoes, coupon_ids=[wallet["store"].pk])
    with (
        mock.patch("flows.orders.release_for_canceled_order", side_effect=RuntimeError("boom")),
        pytest.raises(RuntimeError),
    ):
        flows.cancel(order=order)
    order.refresh_from_db()
    assert order.state == "placed" and order.canceled_at is None


def test_campaign_counter_survives_the_round_trip(member, shoes):
    CampaignFactory(code="ONCE", value=D("1.00"), min_spend=D("0"), usage_limit=1)
    order = buy(member, shoes, promo_code="ONCE")
    with pytest.raises(CheckoutRefused, match="not valid or no longer offered"):
        buy(UserFactory(), shoes, promo_code="ONCE")
    flows.cancel(order=order)
    assert Campaign.objects.get(code="ONCE").used_count == 0
    buy(UserFactory(), shoes, promo_code="ONCE")


def test_a_shop_cancel_event_before_payment_also_gives_the_coupons_back(member, shoes, wallet):
    import json

    from orders.webhooks import parse_event

    order = buy(member, shoes, coupon_ids=[wallet["store"].pk], coins=40)
    body = {
        "id": "evt-cancel-1",
        "type": "order.canceled",
        "occurred_at": (timezone.now() + timedelta(seconds=1)).isoformat(),
        "order": {"id": order.external_id},
    }
    receipt = receive_order_event(event=parse_event(json.dumps(body).encode()))
    assert not receipt.is_duplicate and "canceled" in receipt.result
    (coupon,) = state_of(wallet["store"])
    assert coupon.status == "active" and User.objects.get(pk=member.pk).coins == 500
    # The same event again changes nothing (no double return of coins).
    receive_order_event(event=parse_event(json.dumps(body).encode()))
    assert User.objects.get(pk=member.pk).coins == 500
