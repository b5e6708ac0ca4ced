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


# --- Referrals, orders and coupons (appended by the crediting feature) -------------------------------------
from datetime import timedelta  # noqa: E402
from decimal import Decimal  # noqa: E402

from coupons.models import Coupon  # noqa: E402
from orders.models import Order, PaymentCard  # noqa: E402
from referrals.models import Referral, ReferralCode  # noqa: E402


class ReferralCodeFactory(factory.django.DjangoModelFactory[ReferralCode]):
    class Meta:
        model = ReferralCode
        django_get_or_create = ("user",)

    user = factory.SubFactory(UserFactory)
    code = factory.Sequence(lambda n: f"TST{n:05d}")


class ReferralFactory(factory.django.DjangoModelFactory[Referral]):
    """A friend who registered through the referrer's link (state `registered` unless told)."""

    class Meta:
        model = Referral

    referrer = factory.SubFactory(UserFactory)
    friend = factory.SubFactory(UserFactory)
    code = factory.LazyAttribute(lambda o: ReferralCodeFactory(user=o.referrer))
    registered_at = factory.LazyFunction(timezone.now)


class PaymentCardFactory(factory.django.DjangoModelFactory[PaymentCard]):
    class Meta:
        model = PaymentCard

    user = factory.SubFactory(UserFactory)
    fingerprint = factory.Sequence(lambda n: f"fp_{n:08d}")
    label = "Visa ending 4242"


class OrderFactory(factory.django.DjangoModelFactory[Order]):
    """A buyer's first order by default, paid with the buyer's own card."""

    class Meta:
        model = Order

    buyer = factory.SubFactory(UserFactory)
    external_id = factory.Sequence(lambda n: f"ORD-{n:06d}")
    is_first = True
    card = factory.LazyAttribute(lambda o: PaymentCardFactory(user=o.buyer))
    subtotal = Decimal("40.00")
    total = Decimal("40.00")
    placed_at = factory.LazyFunction(timezone.now)


class CouponFactory(factory.django.DjangoModelFactory[Coupon]):
    """An active $5 platform coupon (min spend $20) valid 30 days. Prefer coupons.services.issue_coupon for ledger."""

    class Meta:
        model = Coupon

    owner = factory.SubFactory(UserFactory)
    source = "manual"
    value = Decimal("5.00")
    min_spend = Decimal("20.00")
    issued_at = factory.LazyFunction(timezone.now)
    expires_at = factory.LazyAttribute(lambda o: o.issued_at + timedelta(days=30))
