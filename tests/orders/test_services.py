"""Order lifecycle services: transitions with their times, forbidden moves, first orders, the referral hook."""

from __future__ import annotations

from decimal import Decimal

import pytest
import time_machine
from django.db import IntegrityError

from accounts.identity import keyed_hash
from accounts.models import AccountDevice, IPSighting
from coupons.pricing import price_cart
from flows import orders as flows
from lib.client import client_info
from orders.errors import InvalidOrder, InvalidTransition
from orders.models import Order, OrderState, PaymentCard
from orders.services.lines import MAX_QUANTITY
from tests.factories import ProductFactory, UserFactory
from tests.orders.conftest import T0, at

pytestmark = pytest.mark.django_db


def test_order_walks_placed_paid_shipped_completed_recording_each_time(make_order):
    order = make_order()
    assert order.state == OrderState.PLACED and order.placed_at == T0
    flows.pay(order=order, occurred_at=at(1))
    flows.ship(order=order, occurred_at=at(2))
    flows.complete(order=order, occurred_at=at(3))
    order.refresh_from_db()
    assert order.state == OrderState.COMPLETED
    assert (order.paid_at, order.shipped_at, order.completed_at) == (at(1), at(2), at(3))
    assert order.canceled_at is None and order.refunded_at is None


def test_transition_time_defaults_to_now(make_order):
    order = make_order()
    with time_machine.travel(at(5), tick=False):
        flows.pay(order=order)
    order.refresh_from_db()
    assert order.paid_at == at(5)


@pytest.mark.parametrize(
    ("steps", "forbidden", "message"),
    [
        ([], flows.ship, "Only a paid order can be shipped."),
        (["paid"], flows.complete, "Only a shipped order can be confirmed as received."),
        (["paid", "shipped"], flows.cancel, "An order can only be canceled before it ships"),
        ([], flows.refund, "Only a paid order can be refunded"),
        (["canceled"], flows.pay, "Only a placed order can be marked paid."),
        (["paid", "shipped", "completed"], flows.cancel, "canceled before it ships"),
        (["paid", "shipped", "completed", "refunded"], flows.refund, "already refunded"),
        (["paid"], flows.pay, "already paid"),
    ],
)
def test_forbidden_transitions_raise_a_clear_error_and_change_nothing(make_order, steps, forbidden, message):
    order = make_order()
    for hour, event in enumerate(steps, start=1):
        flows.TRANSITIONS[event](order=order, occurred_at=at(hour))
    before = Order.objects.values().get(pk=order.pk)
    with pytest.raises(InvalidTransition, match=message):
        forbidden(order=order, occurred_at=at(10))
    assert Order.objects.values().get(pk=order.pk) == before


def test_cancel_before_shipping_and_refund_after_completion(make_order):
    canceled = make_order()
    flows.pay(order=canceled, occurred_at=at(1))
    flows.cancel(order=canceled, occurred_at=at(2))
    assert canceled.state == OrderState.CANCELED and canceled.canceled_at == at(2)

    refunded = make_order()
    for hour, event in enumerate(["paid", "shipped", "completed", "refunded"], start=1):
        flows.TRANSITIONS[event](order=refunded, occurred_at=at(hour))
    refunded.refresh_from_db()
    assert refunded.state == OrderState.REFUNDED
    assert refunded.completed_at == at(3) and refunded.refunded_at == at(4)


def test_first_order_is_the_buyers_earliest_and_unique(make_order, buyer):
    first = make_order()
    second = make_order()
    assert first.is_first and not second.is_first
    other = make_order(who=UserFactory())
    assert other.is_first
    # The database itself refuses a second first order for one buyer.
    with pytest.raises(IntegrityError):
        Order.objects.filter(pk=second.pk).update(is_first=True)


def test_a_canceled_first_order_stays_the_first(make_order):
    first = make_order()
    flows.cancel(order=first, occurred_at=at(1))
    assert not make_order().is_first


def test_card_is_stored_only_as_a_fingerprint_of_the_label(make_order, buyer):
    order = make_order(card_label="  visa   4242 ")
    card = order.card
    assert card.fingerprint == keyed_hash("visa 4242", purpose="card")
    assert card.label == "Visa 4242"
    # The same label is the same card (one row), another label another card.
    make_order(card_label="VISA 4242")
    make_order(card_label="Mastercard 5100")
    assert PaymentCard.objects.filter(user=buyer).count() == 2


@pytest.mark.parametrize("label", ["4242424242424242", "Visa 4242 4242 4242 4242", "", "Visa", "4242", "Visa 42"])
def test_card_numbers_and_nonsense_labels_are_refused(make_order, label):
    with pytest.raises(InvalidOrder, match="test card label"):
        make_order(card_label=label)
    assert not Order.objects.exists()
    assert not PaymentCard.objects.exists()


def test_place_order_records_the_device_when_there_is_a_request(rf, buyer, product):
    request = rf.post("/shop/checkout/", REMOTE_ADDR="8.8.8.8", HTTP_USER_AGENT="pytest")
    request.device_id = "device-xyz"
    order = flows.place_order(member=buyer, lines=[(product, 1)], card_label="Visa 4242", client=client_info(request))
    assert order.device is not None
    assert AccountDevice.objects.filter(user=buyer, device=order.device, first_event="order").exists()
    assert IPSighting.objects.get(user=buyer).kind == "order"


def test_place_order_validates_lines(buyer, product):
    with pytest.raises(InvalidOrder, match="at least one line"):
        flows.place_order(member=buyer, lines=[], card_label="Visa 4242")
    with pytest.raises(InvalidOrder, match="Quantity"):
        flows.place_order(member=buyer, lines=[(product, 0)], card_label="Visa 4242")
    with pytest.raises(InvalidOrder, match="Quantity"):
        flows.place_order(member=buyer, lines=[(product, MAX_QUANTITY + 1)], card_label="Visa 4242")


def test_duplicate_external_id_is_refused(make_order):
    make_order(external_id="X-1")
    with pytest.raises(InvalidOrder, match="already exists"):
        make_order(external_id="X-1")


def test_price_cart_shows_subtotal_sale_savings_and_total():
    sale = ProductFactory(price=Decimal("100.00"), sale_price=Decimal("70.00"))
    regular = ProductFactory(price=Decimal("12.50"))
    pricing = price_cart(lines=[(sale, 2), (regular, 1)])
    assert pricing.subtotal == Decimal("212.50")
    assert pricing.sale_savings == Decimal("60.00")
    assert pricing.total == Decimal("152.50")
    assert [s.code for s in pricing.steps] == ["SALE"]
    no_sale = price_cart(lines=[(regular, 2)])
    assert no_sale.steps == [] and no_sale.total == Decimal("25.00")


def test_order_keeps_the_priced_breakdown(make_order):
    order = make_order(quantity=2)
    assert (order.subtotal, order.discount_total, order.total) == (Decimal("200.00"), Decimal("60.00"), Decimal("140"))
    assert [step["kind"] for step in order.pricing["steps"]] == ["list", "sale"]
    assert order.pricing["total"] == "140.00" and order.coins_used == 0
    assert order.lines.get().quantity == 2


# --- the referral hook ---------------------------------------------------------------


def test_every_transition_of_a_first_order_calls_the_referral_hook(hook, make_order):
    order = make_order()
    for hour, event in enumerate(["paid", "shipped", "completed", "refunded"], start=1):
        flows.TRANSITIONS[event](order=order, occurred_at=at(hour))
    calls = [(c.kwargs["event"], c.kwargs["occurred_at"], c.kwargs["order"].pk) for c in hook.call_args_list]
    assert calls == [
        ("placed", T0, order.pk),
        ("paid", at(1), order.pk),
        ("shipped", at(2), order.pk),
        ("completed", at(3), order.pk),
        ("refunded", at(4), order.pk),
    ]


def test_cancel_of_a_first_order_calls_the_hook(hook, make_order):
    order = make_order()
    flows.cancel(order=order, occurred_at=at(1))
    assert hook.call_args.kwargs["event"] == "canceled"
    assert hook.call_args.kwargs["occurred_at"] == at(1)


def test_later_orders_never_call_the_hook(hook, make_order):
    make_order()
    hook.reset_mock()
    second = make_order()
    flows.pay(order=second, occurred_at=at(1))
    flows.cancel(order=second, occurred_at=at(2))
    hook.assert_not_called()


def test_refused_transition_does_not_call_the_hook(hook, make_order):
    order = make_order()
    hook.reset_mock()
    with pytest.raises(InvalidTransition):
        flows.complete(order=order, occurred_at=at(1))
    hook.assert_not_called()


def test_hook_failure_rolls_the_transition_back(hook, make_order):
    """The hook runs inside the transition's transaction: both happen or neither."""
    order = make_order()
    hook.side_effect = RuntimeError("referrals down")
    with pytest.raises(RuntimeError):
        flows.pay(order=order, occurred_at=at(1))
    order.refresh_from_db()
    assert order.state == OrderState.PLACED and order.paid_at is None
