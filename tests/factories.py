"""factory_boy factories shared by the suite (one class per model)."""

from __future__ import annotations

import factory
from django.utils import timezone

from accounts.models import User


class UserFactory(factory.django.DjangoModelFactory[User]):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"member{n}@example.com")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    country = "US"
    date_joined = factory.LazyFunction(timezone.now)
    password = factory.django.Password("pass-for-tests-123")


# --- orders -------------------------------------------------------------------------
from decimal import Decimal  # noqa: E402

from orders.models import Product, Store  # noqa: E402


class StoreFactory(factory.django.DjangoModelFactory[Store]):
    class Meta:
        model = Store
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Store {n}")
    slug = factory.Sequence(lambda n: f"store-{n}")


class ProductFactory(factory.django.DjangoModelFactory[Product]):
    class Meta:
        model = Product

    store = factory.SubFactory(StoreFactory)
    name = factory.Sequence(lambda n: f"Product {n}")
    price = Decimal("20.00")
    sale_price = None


# --- accounts: devices -------------------------------------------------------
from accounts.models import AccountDevice, Device  # noqa: E402


class DeviceFactory(factory.django.DjangoModelFactory[Device]):
    class Meta:
        model = Device

    id_hash = factory.Sequence(lambda n: f"{n:064x}")
    user_agent = "Mozilla/5.0 (factory)"


class AccountDeviceFactory(factory.django.DjangoModelFactory[AccountDevice]):
    class Meta:
        model = AccountDevice

    user = factory.SubFactory(UserFactory)
    device = factory.SubFactory(DeviceFactory)
    first_event = "login"


# --- levels, coins and events (feat/levels) ----------------------------------------
from datetime import datetime, timedelta  # noqa: E402

from coupons.models import Campaign, CouponKind  # noqa: E402


class EventCampaignFactory(factory.django.DjangoModelFactory[Campaign]):
    """A running platform event (no promo code): coupons members collect."""

    class Meta:
        model = Campaign

    name = factory.Sequence(lambda n: f"Event {n}")
    kind = CouponKind.PLATFORM
    code = None
    value = Decimal("11.00")
    min_spend = Decimal("60.00")
    currency = "USD"
    valid_days = 30
    starts_at = factory.LazyFunction(lambda: timezone.now() - timedelta(days=1))
    ends_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=10))
    usage_limit = 100
    per_member_limit = 1


def completed_order(*, buyer, total: str | Decimal, completed_at: datetime | None = None, product=None):
    """A buyer's order walked placed → paid → shipped → completed through orders.services (total as charged)."""
    from orders import services

    completed_at = completed_at or timezone.now()
    product = product or ProductFactory()
    order = services.place_order(
        buyer=buyer,
        lines=[(product, 1)],
        card_label="Visa 4242",
        occurred_at=completed_at - timedelta(hours=3),
        total=Decimal(str(total)),
    )
    services.pay(order=order, occurred_at=completed_at - timedelta(hours=2))
    services.ship(order=order, occurred_at=completed_at - timedelta(hours=1))
    services.complete(order=order, occurred_at=completed_at)
    return order
