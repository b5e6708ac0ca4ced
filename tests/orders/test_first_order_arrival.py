"""The first order is the earliest PLACED, whatever order its events arrive in (docs/program-rules.md section 3)."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.cache import cache

from flows import orders as flows
from orders import webhooks
from orders.models import Order
from referrals.models import Referral
from referrals.reasons import ReasonCode, ReferralState
from tests.factories import ProductFactory, ReferralFactory, StoreFactory, UserFactory
from tests.orders.conftest import at

pytestmark = pytest.mark.django_db


@pytest.fixture
def referral():
    return ReferralFactory()


@pytest.fixture
def product():
    return ProductFactory(price=Decimal("40.00"))


def place(referral, product, external_id, placed_at):
    return flows.place_order(
        member=referral.friend,
        lines=[(product, 1)],
        card_label=f"Visa {4000 + referral.friend.pk % 1000:04d}",
        occurred_at=placed_at,
        external_id=external_id,
    )


def finish(order, placed_at):
    """Paid, shipped and completed, as late shop events."""
    for hours, name in ((1, "paid"), (2, "shipped"), (3, "completed")):
        flows.record_transition(order=order, event=name, occurred_at=placed_at + timedelta(hours=hours), strict=False)


def reload(*objs):
    for obj in objs:
        obj.refresh_from_db()


def test_an_earlier_order_heard_of_later_becomes_the_first_and_only_it_qualifies(referral, product):
    later = place(referral, product, "LATE", at(5))
    referral.refresh_from_db()
    assert (referral.state, referral.first_order_id) == (ReferralState.ORDER_PLACED, later.pk)

    earlier = place(referral, product, "EARLY", at(0))

    reload(later, referral)
    assert earlier.is_first and not later.is_first
    assert Order.objects.filter(buyer=referral.friend, is_first=True).get() == earlier
    assert (referral.state, referral.first_order_id, referral.order_placed_at) == (
        ReferralState.ORDER_PLACED,
        earlier.pk,
        at(0),
    )
    assert referral.signals["first_order"]["facts"]["order"] == "EARLY"
    note = referral.events.filter(note__contains="EARLY is now the first order").get()
    assert "events of LATE no longer count" in note.note
    # The demoted order's completion drives nothing ...
    finish(later, at(5))
    referral.refresh_from_db()
    assert (referral.state, referral.completed_at) == (ReferralState.ORDER_PLACED, None)
    # ... the first order's does.
    finish(earlier, at(0))
    referral.refresh_from_db()
    assert (referral.state, referral.completed_at) == (ReferralState.QUALIFIED, at(3))


def test_a_canceled_demoted_order_does_not_void_the_referral(referral, product):
    later = place(referral, product, "LATE", at(5))
    place(referral, product, "EARLY", at(0))
    flows.record_transition(order=later, event="canceled", occurred_at=at(6), strict=False)
    referral.refresh_from_db()
    assert referral.state == ReferralState.ORDER_PLACED


@pytest.mark.parametrize("outcome", ["qualified", "voided"])
def test_the_swap_is_refused_once_the_outcome_is_final_and_staff_read_why(referral, product, outcome):
    later = place(referral, product, "LATE", at(5))
    if outcome == "qualified":
        finish(later, at(5))
    else:
        flows.record_transition(order=later, event="canceled", occurred_at=at(6), strict=False)
    referral.refresh_from_db()
    decided = (referral.state, referral.reason_code, referral.completed_at)
    assert referral.state == outcome

    earlier = place(referral, product, "EARLY", at(0))

    reload(later, referral)
    assert later.is_first and not earlier.is_first
    assert (referral.state, referral.reason_code, referral.completed_at) == decided
    assert referral.first_order_id == later.pk
    note = referral.events.filter(note__contains="stays the first order").get()
    assert (note.from_state, note.to_state) == (outcome, outcome)
    assert "EARLY was placed at 2026-03-02 10:00:00 UTC, before first order LATE" in note.note
    # Its own events change nothing.
    finish(earlier, at(0))
    referral.refresh_from_db()
    assert (referral.state, referral.reason_code, referral.completed_at) == decided


def test_the_earlier_order_is_checked_by_the_card_rules_again(referral, product):
    place(referral, product, "LATE", at(5))
    # The earlier order was paid with the referrer's card: it is the first order, and it voids the referral.
    flows.place_order(member=referral.referrer, lines=[(product, 1)], card_label="Mastercard 5555", occurred_at=at(-48))
    flows.place_order(
        member=referral.friend,
        lines=[(product, 1)],
        card_label="Mastercard 5555",
        occurred_at=at(0),
        external_id="EARLY",
    )
    referral.refresh_from_db()
    assert (referral.state, referral.reason_code) == (ReferralState.VOIDED, ReasonCode.SHARED_PAYMENT_METHOD)
    assert referral.first_order.external_id == "EARLY"


def test_an_order_placed_at_the_same_moment_keeps_the_first_one_heard_of(referral, product):
    first = place(referral, product, "A", at(0))
    second = place(referral, product, "B", at(0))
    reload(first)
    assert first.is_first and not second.is_first


def test_a_buyer_without_referral_gets_the_earliest_order_as_first(product):
    buyer = UserFactory()
    later = flows.place_order(member=buyer, lines=[(product, 1)], card_label="Visa 1111", occurred_at=at(5))
    earlier = flows.place_order(member=buyer, lines=[(product, 1)], card_label="Visa 1111", occurred_at=at(1))
    later.refresh_from_db()
    assert earlier.is_first and not later.is_first


@pytest.mark.parametrize("arrival", list(itertools.permutations([0, 1, 2])))
def test_every_arrival_order_of_three_placed_events_picks_the_earliest(arrival, product):
    referral = ReferralFactory()
    orders = {hours: place(referral, product, f"O{hours}", at(hours * 4)) for hours in arrival}
    assert Order.objects.filter(buyer=referral.friend, is_first=True).get() == orders[0]
    referral.refresh_from_db()
    assert (referral.state, referral.first_order_id, referral.order_placed_at) == (
        ReferralState.ORDER_PLACED,
        orders[0].pk,
        at(0),
    )
    for hours in (1, 2):
        finish(orders[hours], at(hours * 4))
    assert Referral.objects.get(pk=referral.pk).state == ReferralState.ORDER_PLACED
    finish(orders[0], at(0))
    assert Referral.objects.get(pk=referral.pk).state == ReferralState.QUALIFIED


# --- through the signed endpoint ---------------------------------------------------------------------

SECRET = "arrival-secret"


def post(client, payload):
    body = json.dumps(payload).encode()
    header = webhooks.sign(body=body, secret=SECRET)
    return client.post(
        "/api/order-events/", data=body, content_type="application/json", headers={"Shop-Signature": header}
    )


def placed(order_id, occurred_at, email):
    return {
        "id": f"evt-placed-{order_id}",
        "type": "order.placed",
        "occurred_at": occurred_at,
        "member": {"email": email},
        "order": {
            "id": order_id,
            "lines": [{"store": "pixel-gadgets", "name": "Earbuds", "quantity": 1, "unit_price": "59.00"}],
            "amount": {"total": "59.00", "currency": "USD"},
            "payment": {"card_fingerprint": "fp_friend_card"},
        },
    }


def shop_event(kind, order_id, occurred_at):
    return {
        "id": f"evt-{kind}-{order_id}",
        "type": f"order.{kind}",
        "occurred_at": occurred_at,
        "order": {"id": order_id},
    }


# The friend's account predates the orders the events date (an order dated before the account is refused).
JOINED = datetime(2026, 1, 1, tzinfo=UTC)


def test_out_of_order_placed_events_through_the_webhook(client, settings):
    settings.ORDER_EVENTS_SECRETS = [SECRET]
    settings.ORDER_EVENTS_TOLERANCE_SECONDS = 300
    cache.clear()
    StoreFactory(slug="pixel-gadgets")
    referral = ReferralFactory(friend=UserFactory(email="friend@example.com", date_joined=JOINED))

    answer = post(client, placed("SHOP-LATE", "2026-03-02T12:00:00Z", "friend@example.com"))
    assert answer.json()["result"] == "placed (first order)"
    answer = post(client, placed("SHOP-EARLY", "2026-03-02T10:00:00Z", "friend@example.com"))
    assert (answer.status_code, answer.json()["result"]) == (200, "placed (first order)")
    assert list(Order.objects.filter(is_first=True).values_list("external_id", flat=True)) == ["SHOP-EARLY"]

    assert post(client, shop_event("completed", "SHOP-LATE", "2026-03-03T12:00:00Z")).status_code == 200
    referral.refresh_from_db()
    assert (referral.state, referral.first_order.external_id) == (ReferralState.ORDER_PLACED, "SHOP-EARLY")

    assert post(client, shop_event("completed", "SHOP-EARLY", "2026-03-03T10:00:00Z")).status_code == 200
    referral.refresh_from_db()
    assert referral.state == ReferralState.QUALIFIED
    assert referral.completed_at.isoformat() == "2026-03-03T10:00:00+00:00"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("attempt", range(3))
def test_placed_events_arriving_together_leave_the_earliest_as_the_only_first(settings, attempt):
    from tests.orders.test_order_events_api import SECRET as API_SECRET
    from tests.orders.test_order_events_api import _post_together

    settings.ORDER_EVENTS_SECRETS = [API_SECRET]
    settings.ORDER_EVENTS_RATE_LIMIT = 10_000
    cache.clear()
    StoreFactory(slug="pixel-gadgets")
    referral = ReferralFactory(friend=UserFactory(email="friend@example.com", date_joined=JOINED))
    # Already heard of: one placed at 15:00. Then five earlier ones at once, latest first.
    assert post_with(API_SECRET, placed("SHOP-15", "2026-03-02T15:00:00Z", "friend@example.com")) == 200
    payloads = [placed(f"SHOP-1{h}", f"2026-03-02T1{h}:00:00Z", "friend@example.com") for h in (4, 3, 2, 1, 0)]
    assert _post_together(payloads) == [200] * 5
    assert list(Order.objects.filter(is_first=True).values_list("external_id", flat=True)) == ["SHOP-10"]
    referral.refresh_from_db()
    assert (referral.state, referral.first_order.external_id) == (ReferralState.ORDER_PLACED, "SHOP-10")


def post_with(secret, payload) -> int:
    from django.test import Client

    body = json.dumps(payload).encode()
    header = webhooks.sign(body=body, secret=secret)
    return (
        Client()
        .post("/api/order-events/", data=body, content_type="application/json", headers={"Shop-Signature": header})
        .status_code
    )


def test_a_referral_in_sign_up_review_also_takes_the_earlier_order_as_first(product):
    """A review decides the referral later; until a completion reached it, the earliest order is still the first."""
    referral = ReferralFactory(state=ReferralState.UNDER_REVIEW, reason_code=ReasonCode.DISPOSABLE_EMAIL)
    later = place(referral, product, "LATE", at(5))
    referral.refresh_from_db()
    assert (referral.state, referral.first_order_id) == (ReferralState.UNDER_REVIEW, later.pk)

    earlier = place(referral, product, "EARLY", at(0))

    reload(later, referral)
    assert earlier.is_first and not later.is_first
    assert (referral.state, referral.first_order_id) == (ReferralState.UNDER_REVIEW, earlier.pk)
    assert referral.events.filter(note__contains="EARLY is now the first order").exists()


def test_a_review_held_at_completion_keeps_its_first_order(product):
    referral = ReferralFactory()
    later = place(referral, product, "LATE", at(5))
    finish(later, at(5))
    Referral.objects.filter(pk=referral.pk).update(state=ReferralState.UNDER_REVIEW, reason_code="REFERRER_BURST")

    earlier = place(referral, product, "EARLY", at(0))

    reload(later, referral)
    assert later.is_first and not earlier.is_first
    assert referral.first_order_id == later.pk
    assert referral.events.filter(note__contains="stays the first order").exists()
