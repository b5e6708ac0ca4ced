"""Demo shop data for `load_demo_data`: stores, products (some on sale) and an order in every state.

Idempotent: rows are looked up by natural keys (store slug, product name,
order external id) before they are created.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from flows import orders as flows
from orders.models import Order, Product, Store

STORES = [
    ("northwind-outfitters", "Northwind Outfitters"),
    ("bright-kitchen", "Bright Kitchen"),
    ("pixel-gadgets", "Pixel Gadgets"),
]

# (store slug, name, list price, sale price or None)
PRODUCTS = [
    ("northwind-outfitters", "Trail running shoes", "100.00", "70.00"),
    ("northwind-outfitters", "Merino wool socks", "18.00", None),
    ("northwind-outfitters", "Packable rain jacket", "89.00", "69.00"),
    ("bright-kitchen", "Cast-iron skillet", "45.00", None),
    ("bright-kitchen", "Chef's knife", "59.00", "49.00"),
    ("bright-kitchen", "Pour-over coffee set", "32.00", None),
    ("pixel-gadgets", "Wireless earbuds", "79.00", "59.00"),
    ("pixel-gadgets", "USB-C charger 65 W", "29.00", None),
    ("pixel-gadgets", "Phone stand", "12.00", "9.50"),
]

# external id -> (transitions after placing, days ago placed)
DEMO_ORDERS = [
    ("DEMO-COMPLETED", ["paid", "shipped", "completed"], 20),
    ("DEMO-REFUNDED", ["paid", "shipped", "completed", "refunded"], 16),
    ("DEMO-CANCELED", ["canceled"], 12),
    ("DEMO-SHIPPED", ["paid", "shipped"], 6),
    ("DEMO-PAID", ["paid"], 3),
    ("DEMO-PLACED", [], 1),
]


# Automatic seller discounts (checkout step 2): store slug -> (buy at least, percent off).
AUTO_DISCOUNTS = {"bright-kitchen": (2, Decimal("10"))}


def ensure_shop() -> dict[str, Product]:
    stores = {slug: Store.objects.get_or_create(slug=slug, defaults={"name": name})[0] for slug, name in STORES}
    for slug, (min_quantity, percent) in AUTO_DISCOUNTS.items():
        Store.objects.filter(slug=slug, auto_discount_min_quantity__isnull=True).update(
            auto_discount_min_quantity=min_quantity, auto_discount_percent=percent
        )
        stores[slug].refresh_from_db()
    products = {}
    for slug, name, price, sale in PRODUCTS:
        products[name], _ = Product.objects.get_or_create(
            store=stores[slug],
            name=name,
            defaults={"price": Decimal(price), "sale_price": Decimal(sale) if sale else None},
        )
    return products


def ensure_demo_orders(*, buyer) -> list[Order]:
    """One order of the demo member in each state, walked through the real services."""
    products = ensure_shop()
    picks = list(products.values())
    orders = []
    now = timezone.now()
    for index, (external_id, steps, days_ago) in enumerate(DEMO_ORDERS):
        order = Order.objects.filter(external_id=external_id).first()
        if order is None:
            placed_at = now - timedelta(days=days_ago)
            lines = [(picks[index % len(picks)], 1), (picks[(index + 4) % len(picks)], 2)]
            order = flows.place_order(
                member=buyer, lines=lines, card_label="Visa 4242", occurred_at=placed_at, external_id=external_id
            )
            for step, event in enumerate(steps, start=1):
                flows.TRANSITIONS[event](order=order, occurred_at=placed_at + timedelta(hours=12 * step))
        orders.append(order)
    return orders
