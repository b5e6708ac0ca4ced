"""Storefront and My orders wiring: catalog, cart, checkout, order actions, 404 for others."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from flows import orders as flows
from orders.models import Order, OrderState
from tests.factories import ProductFactory, StoreFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def sale_item():
    return ProductFactory(
        store=StoreFactory(name="Northwind", slug="northwind"),
        name="Trail shoes",
        price=Decimal("100.00"),
        sale_price=Decimal("70.00"),
    )


@pytest.fixture
def regular_item():
    return ProductFactory(
        store=StoreFactory(name="Bright Kitchen", slug="bright"), name="Skillet", price=Decimal("45.00")
    )


def test_catalog_shows_sale_price_and_struck_list_price(client, sale_item, regular_item):
    response = client.get(reverse("orders:catalog"))
    html = response.content.decode()
    assert response.status_code == 200
    assert (
        "$70.00" in html and '<s class="price-old"><span class="visually-hidden">List price </span>$100.00</s>' in html
    )
    assert "$45.00" in html and "Bright Kitchen" in html


def test_catalog_filters_by_store_and_ignores_unknown_ones(client, sale_item, regular_item):
    html = client.get(reverse("orders:catalog"), {"store": "bright"}).content.decode()
    assert "Skillet" in html and "Trail shoes" not in html
    html = client.get(reverse("orders:catalog"), {"store": "nope"}).content.decode()
    assert "Skillet" in html and "Trail shoes" in html


def test_catalog_query_count_is_constant(client, django_assert_max_num_queries, sale_item):
    for _ in range(10):
        ProductFactory()
    with django_assert_max_num_queries(6):
        client.get(reverse("orders:catalog"))


def test_cart_add_update_remove(client, sale_item, regular_item):
    client.post(reverse("orders:cart_add"), {"product": sale_item.pk, "quantity": 2})
    client.post(reverse("orders:cart_add"), {"product": regular_item.pk, "quantity": 1})
    html = client.get(reverse("orders:cart")).content.decode()
    assert "$185.00" in html  # 2 × 70 + 45
    assert "Sale savings" in html and "$60.00" in html

    client.post(reverse("orders:cart_update"), {"product": sale_item.pk, "quantity": 3})
    assert client.session["cart"][str(sale_item.pk)] == 3
    client.post(reverse("orders:cart_update"), {"product": sale_item.pk, "quantity": 0})
    assert str(sale_item.pk) not in client.session["cart"]
    client.post(reverse("orders:cart_remove"), {"product": regular_item.pk})
    assert client.session["cart"] == {}


@pytest.mark.parametrize(
    ("quantity", "message"), [("0", "at least 1"), ("21", "at most 20"), ("-3", "at least 1"), ("lots", "whole number")]
)
def test_cart_quantities_are_validated(client, sale_item, quantity, message):
    response = client.post(reverse("orders:cart_add"), {"product": sale_item.pk, "quantity": quantity}, follow=True)
    assert message in response.content.decode()
    assert not client.session.get("cart")


def test_unknown_or_inactive_product_is_a_message_not_a_500(client, sale_item):
    sale_item.is_active = False
    sale_item.save()
    response = client.post(reverse("orders:cart_add"), {"product": sale_item.pk, "quantity": 1}, follow=True)
    assert response.status_code == 200 and "no longer available" in response.content.decode()
    response = client.post(reverse("orders:cart_update"), {"product": 99999, "quantity": 1}, follow=True)
    assert response.status_code == 200 and "no longer available" in response.content.decode()


def test_cart_add_never_redirects_off_site(client, sale_item):
    response = client.post(
        reverse("orders:cart_add"), {"product": sale_item.pk, "quantity": 1, "next": "https://evil.example/"}
    )
    assert response["Location"] == reverse("orders:catalog")


def test_checkout_requires_login_and_a_cart(client, member):
    client.logout()
    assert client.get(reverse("orders:checkout")).status_code == 302
    client.force_login(member)
    response = client.get(reverse("orders:checkout"))
    assert response["Location"] == reverse("orders:catalog")


def test_checkout_shows_the_breakdown_and_places_the_order(client, member, sale_item, hook):
    client.post(reverse("orders:cart_add"), {"product": sale_item.pk, "quantity": 2})
    html = client.get(reverse("orders:checkout")).content.decode()
    assert "Subtotal" in html and "$200.00" in html and "Sale savings" in html and "$140.00" in html
    response = client.post(
        reverse("orders:checkout"), {"card_label": "Visa 4242", "action": "pay"}, REMOTE_ADDR="8.8.8.8"
    )
    order = Order.objects.get(buyer=member)
    assert response["Location"] == reverse("orders:detail", args=[order.external_id])
    assert order.total == Decimal("140.00") and order.is_first and order.device is not None
    assert "4242424242" not in order.card.fingerprint
    assert client.session.get("cart") is None
    assert hook.call_args.kwargs["event"] == "placed"


def test_checkout_refuses_a_card_number(client, member, sale_item):
    client.post(reverse("orders:cart_add"), {"product": sale_item.pk, "quantity": 1})
    response = client.post(reverse("orders:checkout"), {"card_label": "4242 4242 4242 4242", "action": "pay"})
    assert response.status_code == 200
    assert "never a real card number" in response.content.decode()
    assert not Order.objects.exists()


def _order_for(user, product, **kwargs):
    return flows.place_order(member=user, lines=[(product, 1)], card_label="Visa 4242", **kwargs)


def test_my_orders_lists_only_mine(client, member, sale_item, django_assert_max_num_queries):
    for _ in range(3):
        _order_for(member, sale_item)
    theirs = _order_for(UserFactory(), sale_item)
    with django_assert_max_num_queries(6):
        html = client.get(reverse("orders:my_orders")).content.decode()
    assert html.count("Trail shoes") == 3
    assert theirs.external_id not in html


def test_another_members_order_is_404_everywhere(client, member, sale_item, settings):
    settings.SHOP_SIMULATION = True
    theirs = _order_for(UserFactory(), sale_item)
    assert client.get(reverse("orders:detail", args=[theirs.external_id])).status_code == 404
    for action in ["cancel", "confirm-receipt", "refund", "mark-paid", "mark-shipped"]:
        assert client.post(reverse("orders:action", args=[theirs.external_id, action])).status_code == 404
    theirs.refresh_from_db()
    assert theirs.state == OrderState.PLACED


def test_walk_an_order_through_its_lifecycle_with_the_buttons(client, member, sale_item, settings):
    settings.SHOP_SIMULATION = True  # `make run`: the seller's side of the demo shop
    order = _order_for(member, sale_item)
    detail = reverse("orders:detail", args=[order.external_id])
    html = client.get(detail).content.decode()
    assert "Demo shop controls" in html and "Mark paid" in html and "Cancel order" in html
    assert "Confirm receipt" not in html

    for action, state in [("mark-paid", "paid"), ("mark-shipped", "shipped"), ("confirm-receipt", "completed")]:
        response = client.post(reverse("orders:action", args=[order.external_id, action]), follow=True)
        order.refresh_from_db()
        assert order.state == state
        assert response.status_code == 200
    html = client.get(detail).content.decode()
    assert "Request refund" in html and "Cancel order" not in html
    # A Silver member's refund request waits for staff (tests/orders/test_refund_approval.py has the rule).
    response = client.post(reverse("orders:action", args=[order.external_id, "refund"]), follow=True)
    html = response.content.decode()
    assert "Refund requested: our team reviews it" in html and "Request refund" not in html
    order.refresh_from_db()
    assert order.state == OrderState.COMPLETED and order.has_pending_refund_request


def test_forbidden_action_is_a_message(client, member, sale_item):
    order = _order_for(member, sale_item)
    response = client.post(reverse("orders:action", args=[order.external_id, "confirm-receipt"]), follow=True)
    assert response.status_code == 200
    assert "Only a shipped order can be confirmed as received." in response.content.decode()
    assert client.post(reverse("orders:action", args=[order.external_id, "explode"])).status_code == 404
    assert client.get(reverse("orders:action", args=[order.external_id, "cancel"])).status_code == 405


# --- The shop simulation (README "Security"; settings.SHOP_SIMULATION) -----------------------------------------


def test_without_the_shop_simulation_a_member_cannot_mark_their_own_order_paid_or_shipped(client, member, sale_item):
    """Production (DEBUG off, SHOP_SIMULATION unset): no seller controls on the page, and posting them is a 404."""
    from django.conf import settings

    assert settings.SHOP_SIMULATION is False  # the suite runs with DEBUG off, as production does
    order = _order_for(member, sale_item)
    html = client.get(reverse("orders:detail", args=[order.external_id])).content.decode()
    assert "Demo shop controls" not in html and "Mark paid" not in html
    for action in ("mark-paid", "mark-shipped"):
        assert client.post(reverse("orders:action", args=[order.external_id, action])).status_code == 404
    order.refresh_from_db()
    assert order.state == OrderState.PLACED and order.paid_at is None
    # Receipt of an unpaid order cannot be confirmed either: only a shipped one.
    client.post(reverse("orders:action", args=[order.external_id, "confirm-receipt"]))
    order.refresh_from_db()
    assert order.state == OrderState.PLACED


def test_without_the_shop_simulation_the_buyer_still_confirms_receipt_of_a_shipped_order(client, member, sale_item):
    order = _order_for(member, sale_item)
    flows.pay(order=order)
    flows.ship(order=order)
    html = client.get(reverse("orders:detail", args=[order.external_id])).content.decode()
    assert "Confirm receipt" in html and "Demo shop controls" not in html
    client.post(reverse("orders:action", args=[order.external_id, "confirm-receipt"]))
    order.refresh_from_db()
    assert order.state == OrderState.COMPLETED


@pytest.mark.parametrize(
    ("env", "expected"),
    [({"DEBUG": "1"}, "True"), ({"DEBUG": "0"}, "False"), ({"DEBUG": "0", "SHOP_SIMULATION": "1"}, "True")],
)
def test_the_shop_simulation_follows_debug_unless_set_explicitly(env, expected):
    import os
    import subprocess
    import sys

    base = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SHOP_SIMULATION"}}
    code = "import django; django.setup(); from django.conf import settings; print(settings.SHOP_SIMULATION)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**base, "DJANGO_SETTINGS_MODULE": "referral_portal.settings", "SECRET_KEY": "x" * 50, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert out.stdout.strip().splitlines()[-1] == expected


def test_make_run_turns_the_shop_simulation_on():
    from pathlib import Path

    makefile = (Path(__file__).resolve().parents[2] / "Makefile").read_text()
    run = makefile.split("\nrun:", 1)[1].split("\n\n", 1)[0]
    assert "SHOP_SIMULATION=$${SHOP_SIMULATION:-1}" in run
