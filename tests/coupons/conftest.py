"""Helpers for coupon tests: stores and orders made through the ORM (the orders app owns their factories)."""

from __future__ import annotations

import itertools

import pytest

_seq = itertools.count(1)


@pytest.fixture
def make_store():
    from orders.models import Store

    def make(name: str = "Bolt Bikes") -> Store:
        n = next(_seq)
        return Store.objects.create(name=name, slug=f"store-{n}")

    return make


@pytest.fixture
def make_order():
    from orders.models import Order

    def make(buyer, **kwargs) -> Order:
        return Order.objects.create(buyer=buyer, external_id=f"T-{next(_seq)}-{buyer.pk}", **kwargs)

    return make
