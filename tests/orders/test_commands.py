"""send_order_event signs and delivers a sample event; demo data has an order in every state."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from orders.demo import ensure_demo_orders, ensure_shop
from orders.models import Order, OrderEvent, OrderState, Product
from tests.factories import UserFactory


@pytest.mark.django_db(transaction=True)
def test_send_order_event_reaches_a_running_portal(live_server, settings):
    settings.ORDER_EVENTS_SECRETS = ["cmd-secret"]
    ensure_shop()
    UserFactory(email="member@example.com")
    out = io.StringIO()
    call_command("send_order_event", url=live_server.url, order="CMD-1", event_id="evt-cmd-1", stdout=out)
    assert "-> 200" in out.getvalue()
    call_command("send_order_event", url=live_server.url, order="CMD-1", event_id="evt-cmd-1", stdout=out)
    assert '"duplicate"' in out.getvalue()
    call_command("send_order_event", url=live_server.url, order="CMD-1", event_type="order.paid", stdout=out)
    assert Order.objects.get(external_id="CMD-1").state == OrderState.PAID
    assert OrderEvent.objects.count() == 2
    with pytest.raises(CommandError, match="refused"):
        call_command("send_order_event", url=live_server.url, secret="wrong", stdout=io.StringIO())


def test_send_order_event_explains_unreachable_portal():
    with pytest.raises(CommandError, match="Could not reach"):
        call_command("send_order_event", url="http://127.0.0.1:9", secret="x", timeout=2, stdout=io.StringIO())


@pytest.mark.django_db
def test_demo_shop_has_sales_and_an_order_in_every_state_idempotently():
    member = UserFactory(email="maya@example.com")
    ensure_demo_orders(buyer=member)
    ensure_demo_orders(buyer=member)
    assert Product.objects.filter(sale_price__isnull=False).exists()
    assert Product.objects.filter(sale_price__isnull=True).exists()
    assert Product.objects.values("store").distinct().count() >= 3
    states = set(Order.objects.filter(buyer=member).values_list("state", flat=True))
    assert states == set(OrderState.values)
    assert Order.objects.filter(buyer=member, is_first=True).count() == 1
