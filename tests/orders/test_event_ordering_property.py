"""Completed, refunded and canceled events in any arrival order, with duplicates (docs/program-rules.md G6, scenario 3).

Property: the order's final state and timestamps depend only on when things
happened, never on the order they arrived in; the referral hook saw the event
that decided the order's fate, with its occurred_at.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.core.cache import cache
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flows import orders as flows
from orders import webhooks
from orders.models import Order, OrderEvent, OrderState
from tests.factories import ProductFactory, UserFactory
from tests.orders.conftest import T0, at

pytestmark = pytest.mark.django_db

SECRET = "property-secret"

# Hours after T0: paid at 1, shipped at 10; completion after shipping; a refund
# anywhere after payment; a cancel (sometimes) before shipping.
scenario = st.fixed_dictionaries(
    {
        "completed": st.integers(min_value=11, max_value=40),
        "refunded": st.one_of(st.none(), st.integers(min_value=2, max_value=60)),
        "canceled": st.one_of(st.none(), st.integers(min_value=2, max_value=9)),
    }
).filter(lambda s: len({v for v in s.values() if v is not None}) == sum(v is not None for v in s.values()))


def expected(s: dict) -> tuple[str, str | None]:
    """(final state, the event that ended the order before completion or None)."""
    enders = [(s[k], k) for k in ("canceled", "refunded") if s[k] is not None and s[k] < s["completed"]]
    if enders:
        winner = min(enders)[1]
        return winner, winner
    if s["refunded"] is not None:
        return OrderState.REFUNDED, None
    return OrderState.COMPLETED, None


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(s=scenario, data=st.data())
def test_final_state_is_the_same_whatever_the_arrival_order(client, hook, django_settings_override, s, data):
    cache.clear()
    Order.objects.all().delete()
    OrderEvent.objects.all().delete()
    hook.reset_mock()
    buyer = UserFactory()
    order = flows.place_order(member=buyer, lines=[(ProductFactory(), 1)], card_label="Visa 4242", occurred_at=T0)
    flows.pay(order=order, occurred_at=at(1))
    flows.ship(order=order, occurred_at=at(10))

    events = [
        {
            "id": f"evt-{kind}-{order.pk}",
            "type": f"order.{kind}",
            "occurred_at": at(hour).isoformat(),
            "order": {"id": order.external_id},
        }
        for kind, hour in s.items()
        if hour is not None
    ]
    # Every arrival order, each event delivered one to three times.
    deliveries = [e for e in events for _ in range(data.draw(st.integers(min_value=1, max_value=3)))]
    deliveries = data.draw(st.permutations(deliveries))
    for payload in deliveries:
        body = json.dumps(payload).encode()
        response = client.post(
            "/api/order-events/",
            data=body,
            content_type="application/json",
            headers={"Shop-Signature": webhooks.sign(body=body, secret=SECRET)},
        )
        assert response.status_code == 200, response.json()

    order.refresh_from_db()
    state, ended_by = expected(s)
    assert order.state == state
    assert OrderEvent.objects.count() == len(events)
    # Every fact is kept with the time it happened, whatever came first.
    for kind, hour in s.items():
        assert getattr(order, f"{kind}_at") == (at(hour) if hour is not None else None)

    seen = [(c.kwargs["event"], c.kwargs["occurred_at"]) for c in hook.call_args_list]
    assert len(seen) == len(set(seen)), "the hook never sees one transition twice"
    if ended_by is not None:
        # Refund/cancel before completion: the hook saw it, with when it happened.
        assert (ended_by, at(s[ended_by])) in seen
        assert order.completed_at is None or getattr(order, f"{ended_by}_at") < order.completed_at
    else:
        assert ("completed", at(s["completed"])) in seen
        if s["refunded"] is not None:
            # Refund after completion: a refund of a completed order.
            assert order.completed_at < order.refunded_at
            assert ("refunded", at(s["refunded"])) in seen


@pytest.fixture
def django_settings_override(settings):
    settings.ORDER_EVENTS_SECRETS = [SECRET]
    settings.ORDER_EVENTS_RATE_LIMIT = 1_000_000
    return settings


def test_expected_helper_matches_the_rules():
    assert expected({"completed": 20, "refunded": 15, "canceled": None}) == ("refunded", "refunded")
    assert expected({"completed": 20, "refunded": 25, "canceled": None}) == ("refunded", None)
    assert expected({"completed": 20, "refunded": 5, "canceled": 3}) == ("canceled", "canceled")
    assert expected({"completed": 20, "refunded": None, "canceled": None}) == ("completed", None)
    assert timedelta(hours=1) == at(1) - T0
