"""factory_boy factories shared by the suite (one class per model)."""

from __future__ import annotations

import factory
from django.utils import timezone

from accounts.models import User
from referrals.codes import generate_code


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


# --- referrals (links, attribution, sign-up) -----------------------------------------------
class ReferrerFactory(UserFactory):
    """A member in good standing who can refer: active, phone verified."""

    phone = factory.Sequence(lambda n: f"+1415555{n:04d}")
    phone_verified_at = factory.LazyFunction(timezone.now)


class ReferralCodeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "referrals.ReferralCode"

    user = factory.SubFactory(ReferrerFactory)
    code = factory.LazyFunction(generate_code)


class PaymentCardFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "orders.PaymentCard"

    user = factory.SubFactory(UserFactory)
    fingerprint = factory.Sequence(lambda n: f"fp_{n:08d}")


class ReferralFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "referrals.Referral"

    code = factory.SubFactory(ReferralCodeFactory)
    referrer = factory.SelfAttribute("code.user")
    friend = factory.SubFactory(UserFactory)
    state = "registered"
    registered_at = factory.LazyFunction(timezone.now)


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


# --- Invite Friends page and support requests (issue 8). Prefixed "Invite" so that
# --- factories appended by other features for the same models cannot clash.
from decimal import Decimal  # noqa: E402

from coupons.models import Coupon, CouponSource  # noqa: E402
from referrals.models import Click, Referral, ReferralCode, ReferralEvent  # noqa: E402
from support.models import SupportRequest  # noqa: E402


class InviteReferralCodeFactory(factory.django.DjangoModelFactory[ReferralCode]):
    class Meta:
        model = ReferralCode

    user = factory.SubFactory(UserFactory)
    code = factory.Sequence(lambda n: f"INV{n:06d}")


class InviteClickFactory(factory.django.DjangoModelFactory[Click]):
    class Meta:
        model = Click

    referral_code = factory.SubFactory(InviteReferralCodeFactory)
    channel = "whatsapp"
    clicked_at = factory.LazyFunction(timezone.now)


class InviteReferralFactory(factory.django.DjangoModelFactory[Referral]):
    """A referral in any state: pass state=…, reason_code=… and the timestamps the state implies."""

    class Meta:
        model = Referral

    referrer = factory.SubFactory(UserFactory)
    friend = factory.SubFactory(UserFactory)
    code = factory.LazyAttribute(
        lambda o: ReferralCode.objects.get_or_create(user=o.referrer, defaults={"code": f"R{o.referrer.pk:08d}"})[0]
    )
    channel = "whatsapp"
    state = "registered"
    registered_at = factory.LazyFunction(lambda: timezone.now() - timedelta(days=3))


class InviteReferralEventFactory(factory.django.DjangoModelFactory[ReferralEvent]):
    class Meta:
        model = ReferralEvent

    referral = factory.SubFactory(InviteReferralFactory)
    from_state = ""
    to_state = factory.LazyAttribute(lambda o: o.referral.state)
    occurred_at = factory.LazyFunction(timezone.now)


class InviteRewardCouponFactory(factory.django.DjangoModelFactory[Coupon]):
    """The referrer's reward coupon of a credited referral."""

    class Meta:
        model = Coupon

    referral = factory.SubFactory(InviteReferralFactory, state="credited")
    owner = factory.LazyAttribute(lambda o: o.referral.referrer)
    source = CouponSource.REFERRAL
    value = Decimal("5.00")
    min_spend = Decimal("20.00")
    issued_at = factory.LazyFunction(timezone.now)
    expires_at = factory.LazyAttribute(lambda o: o.issued_at + timedelta(days=30))


class SupportRequestFactory(factory.django.DjangoModelFactory[SupportRequest]):
    class Meta:
        model = SupportRequest

    referral = factory.SubFactory(InviteReferralFactory, state="rejected", reason_code="STAFF_REJECTED")
    member = factory.LazyAttribute(lambda o: o.referral.referrer)
    kind = SupportRequest.Kind.DISPUTE_REJECTION


# --- Referrals, orders and coupons (appended by the crediting feature) -------------------------------------
from decimal import Decimal  # noqa: E402

from coupons.models import Coupon  # noqa: E402
from orders.models import Order, PaymentCard  # noqa: E402
from referrals.models import Referral, ReferralCode  # noqa: E402


class CreditingReferralCodeFactory(factory.django.DjangoModelFactory[ReferralCode]):
    class Meta:
        model = ReferralCode
        django_get_or_create = ("user",)

    user = factory.SubFactory(UserFactory)
    code = factory.Sequence(lambda n: f"TST{n:05d}")


class CreditingReferralFactory(factory.django.DjangoModelFactory[Referral]):
    """A friend who registered through the referrer's link (state `registered` unless told)."""

    class Meta:
        model = Referral

    referrer = factory.SubFactory(UserFactory)
    friend = factory.SubFactory(UserFactory)
    code = factory.LazyAttribute(lambda o: CreditingReferralCodeFactory(user=o.referrer))
    registered_at = factory.LazyFunction(timezone.now)


class CreditingPaymentCardFactory(factory.django.DjangoModelFactory[PaymentCard]):
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
    card = factory.LazyAttribute(lambda o: CreditingPaymentCardFactory(user=o.buyer))
    subtotal = Decimal("40.00")
    total = Decimal("40.00")
    placed_at = factory.LazyFunction(timezone.now)


class CreditingCouponFactory(factory.django.DjangoModelFactory[Coupon]):
    """An active $5 platform coupon (min spend $20) valid 30 days. Prefer coupons.services.issue_coupon for ledger."""

    class Meta:
        model = Coupon

    owner = factory.SubFactory(UserFactory)
    source = "manual"
    value = Decimal("5.00")
    min_spend = Decimal("20.00")
    issued_at = factory.LazyFunction(timezone.now)
    expires_at = factory.LazyAttribute(lambda o: o.issued_at + timedelta(days=30))


# --- levels, coins and events (feat/levels) ----------------------------------------
from datetime import datetime  # noqa: E402

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
