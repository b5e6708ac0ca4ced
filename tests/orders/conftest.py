from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from unittest import mock

import pytest

from flows import orders as flows
from referrals.services.lifecycle import FirstOrderOutcome
from tests.factories import ProductFactory, StoreFactory, UserFactory

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


@pytest.fixture
def hook():
    """Spy on the referral program's hook (its real body belongs to the crediting branch)."""
    with mock.patch("referrals.services.lifecycle.record_first_order_event", return_value=FirstOrderOutcome()) as spy:
        yield spy


@pytest.fixture
def buyer():
    return UserFactory()


@pytest.fixture
def product():
    return ProductFactory(price=Decimal("100.00"), sale_price=Decimal("70.00"))


@pytest.fixture
def shoes():
    """Trail shoes at Northwind: $100, on sale for $70 (the checkout worked example)."""
    store = StoreFactory(name="Northwind", slug="northwind")
    return ProductFactory(store=store, name="Trail shoes", price=Decimal("100.00"), sale_price=Decimal("70.00"))


@pytest.fixture
def make_order(buyer, product):
    def make(*, who=None, placed_at=T0, external_id=None, card_label="Visa 4242", quantity=1):
        return flows.place_order(
            member=who or buyer,
            lines=[(product, quantity)],
            card_label=card_label,
            occurred_at=placed_at,
            external_id=external_id,
        )

    return make
