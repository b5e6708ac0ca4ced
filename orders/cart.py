"""The shopping cart, kept in the session as {product id: quantity}."""

from __future__ import annotations

from orders.models import Product
from orders.services.lines import MAX_QUANTITY, LineInput

SESSION_KEY = "cart"


def _raw(session) -> dict[str, int]:
    raw = session.get(SESSION_KEY)
    return raw if isinstance(raw, dict) else {}


def count(session) -> int:
    return sum(q for q in _raw(session).values() if isinstance(q, int))


def set_quantity(session, *, product: Product, quantity: int) -> None:
    """Set a line's quantity (0 removes it)."""
    raw = dict(_raw(session))
    if quantity <= 0:
        raw.pop(str(product.pk), None)
    else:
        raw[str(product.pk)] = min(quantity, MAX_QUANTITY)
    session[SESSION_KEY] = raw


def add(session, *, product: Product, quantity: int) -> int:
    """Add to a line; returns the line's new quantity (at most MAX_QUANTITY)."""
    current = _raw(session).get(str(product.pk), 0)
    new = min(int(current) + quantity, MAX_QUANTITY)
    set_quantity(session, product=product, quantity=new)
    return new


def clear(session) -> None:
    session.pop(SESSION_KEY, None)


def lines(session) -> list[LineInput]:
    """The cart's lines with today's prices; products no longer sold are dropped."""
    raw = _raw(session)
    ids = [int(pid) for pid in raw if str(pid).isdigit()]
    products = (
        Product.objects.filter(pk__in=ids, is_active=True).select_related("store").order_by("store__name", "name")
    )
    return [
        LineInput.for_product(product, int(raw[str(product.pk)]))
        for product in products
        if isinstance(raw.get(str(product.pk)), int) and raw[str(product.pk)] > 0
    ]
