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


# --- coupons -----------------------------------------------------------------
from datetime import timedelta  # noqa: E402
from decimal import Decimal  # noqa: E402


class CouponFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "coupons.Coupon"

    owner = factory.SubFactory(UserFactory)
    kind = "platform"
    source = "manual"
    value = factory.LazyFunction(lambda: Decimal("5.00"))
    min_spend = factory.LazyFunction(lambda: Decimal("20.00"))
    currency = "USD"
    issued_at = factory.LazyFunction(timezone.now)
    expires_at = factory.LazyAttribute(lambda o: o.issued_at + timedelta(days=30))


class CampaignFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "coupons.Campaign"

    name = factory.Sequence(lambda n: f"Campaign {n}")
    kind = "promo"
    code = factory.Sequence(lambda n: f"PROMO{n}")
    value = factory.LazyFunction(lambda: Decimal("10.00"))
    min_spend = factory.LazyFunction(lambda: Decimal("0.00"))
    starts_at = factory.LazyFunction(lambda: timezone.now() - timedelta(days=1))
