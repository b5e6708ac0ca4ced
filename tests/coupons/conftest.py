"""Helpers for coupon tests: stores and bare order rows (no lines, no card, not a first order)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from orders.models import Order, Store
from tests.factories import OrderFactory, StoreFactory


@pytest.fixture
def make_store():
    def make(name: str = "Bolt Bikes") -> Store:
        return StoreFactory(name=name)

    return make


@pytest.fixture
def make_order_row():
    """make_order_row(buyer, **fields): an order row as the coupon services see it, not placed through checkout."""

    def make(buyer, **fields) -> Order:
        return OrderFactory(
            **{"buyer": buyer, "is_first": False, "card": None, "subtotal": Decimal(0), "total": Decimal(0), **fields}
        )

    return make
