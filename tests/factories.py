"""factory_boy factories shared by the suite: one typed factory per model, variants as traits or params.

Clocks default to the moment of creation (`timezone.now`); a test that needs another moment passes it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import factory
from django.utils import timezone

from accounts.models import AccountDevice, Device, Notification, Region, User
from coupons.models import (
    Campaign,
    Coupon,
    CouponKind,
    CouponSource,
    ManualCouponRequest,
    StoreOffer,
    StoreOfferAudience,
)
from flows import orders as order_flows
from ops.models import JobRun, OutboxMessage, TaskDelivery
from orders.models import Order, PaymentCard, Product, Store, StoreFollow
from outbound import services as outbound_services
from outbound.models import Delivery, DeliveryStatus, Endpoint, EventType, OutboundEvent
from referrals.codes import generate_code
from referrals.models import Click, MilestoneTier, Referral, ReferralCode, ReferralEvent
from referrals.terms import snapshot_for
from support.models import SupportRequest

# --- ops ----------------------------------------------------------------------------------------------------


class OutboxMessageFactory(factory.django.DjangoModelFactory[OutboxMessage]):
    """A pending outbox row publishing the credit task (not kicked: no dispatch after commit)."""

    class Meta:
        model = OutboxMessage

    kind = OutboxMessage.Kind.TASK
    target = "referrals.tasks.credit_referral_task"
    args = factory.LazyFunction(lambda: [1])


class TaskDeliveryFactory(factory.django.DjangoModelFactory[TaskDelivery]):
    """A credit task message delivered a second time (not parked)."""

    class Meta:
        model = TaskDelivery

    task_id = factory.Sequence(lambda n: f"task-{n:08d}")
    task_name = "referrals.tasks.credit_referral_task"
    args = factory.LazyFunction(lambda: [1])
    deliveries = 2


class JobRunFactory(factory.django.DjangoModelFactory[JobRun]):
    class Meta:
        model = JobRun

    name = factory.Sequence(lambda n: f"jobs.job_{n}")
    last_started_at = factory.LazyFunction(timezone.now)
    last_duration_seconds = 1.5
    last_count = 10
    runs = 1
    rows = 10
    seconds = 1.5


# --- accounts -----------------------------------------------------------------------------------------------


class NotificationFactory(factory.django.DjangoModelFactory[Notification]):
    """A notice in the member's inbox (already e-mailed)."""

    class Meta:
        model = Notification

    user = factory.SubFactory("tests.factories.UserFactory")
    kind = "reward_credited"
    title = "Your reward is ready"
    body = "A $5 coupon is in your wallet."
    emailed_at = factory.LazyFunction(timezone.now)


class UserFactory(factory.django.DjangoModelFactory[User]):
    """A member in the program's default region (US), password `pass-for-tests-123`."""

    class Meta:
        model = User
        skip_postgeneration_save = True

    class Params:
        # A member who may refer friends: a verified phone number (referrals/eligibility.py checks it).
        phone_verified = factory.Trait(
            phone=factory.Sequence(lambda n: f"+1415555{n:04d}"),
            phone_verified_at=factory.LazyFunction(timezone.now),
        )

    email = factory.Sequence(lambda n: f"member{n}@example.com")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    country = "US"
    date_joined = factory.LazyFunction(timezone.now)
    password = factory.django.Password("pass-for-tests-123")


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


# --- orders -------------------------------------------------------------------------------------------------


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


class StoreFollowFactory(factory.django.DjangoModelFactory[StoreFollow]):
    class Meta:
        model = StoreFollow

    store = factory.SubFactory(StoreFactory)
    member = factory.SubFactory(UserFactory)


class PaymentCardFactory(factory.django.DjangoModelFactory[PaymentCard]):
    class Meta:
        model = PaymentCard

    user = factory.SubFactory(UserFactory)
    fingerprint = factory.Sequence(lambda n: f"fp_{n:08d}")
    label = "Visa ending 4242"


class OrderFactory(factory.django.DjangoModelFactory[Order]):
    """A buyer's first order by default, paid with the buyer's own card (a row only: no lines, no flows).

    `card=None` makes an order without a card, `is_first=False` a later order.
    """

    class Meta:
        model = Order

    buyer = factory.SubFactory(UserFactory)
    external_id = factory.Sequence(lambda n: f"ORD-{n:06d}")
    is_first = True
    card = factory.LazyAttribute(lambda o: PaymentCardFactory(user=o.buyer))
    subtotal = Decimal("40.00")
    total = Decimal("40.00")
    placed_at = factory.LazyFunction(timezone.now)


def completed_order(*, buyer: User, total: str | Decimal, completed_at: datetime | None = None, product=None) -> Order:
    """A buyer's order walked placed → paid → shipped → completed through flows.orders (total as charged)."""
    completed_at = completed_at or timezone.now()
    product = product or ProductFactory()
    order = order_flows.place_order(
        member=buyer,
        lines=[(product, 1)],
        card_label="Visa 4242",
        occurred_at=completed_at - timedelta(hours=3),
        total=Decimal(str(total)),
    )
    order_flows.pay(order=order, occurred_at=completed_at - timedelta(hours=2))
    order_flows.ship(order=order, occurred_at=completed_at - timedelta(hours=1))
    order_flows.complete(order=order, occurred_at=completed_at)
    return order


# --- referrals ----------------------------------------------------------------------------------------------


class ReferralCodeFactory(factory.django.DjangoModelFactory[ReferralCode]):
    """A member's one referral code; asking again for the same member returns the code they have.

    Its default owner may refer (verified phone); `user__phone_verified_at=None` makes one who may not.
    """

    class Meta:
        model = ReferralCode
        django_get_or_create = ("user",)

    user = factory.SubFactory(UserFactory, phone_verified=True)
    code = factory.LazyFunction(generate_code)


class ClickFactory(factory.django.DjangoModelFactory[Click]):
    class Meta:
        model = Click

    referral_code = factory.SubFactory(ReferralCodeFactory)
    channel = "whatsapp"
    clicked_at = factory.LazyFunction(timezone.now)


class ReferralFactory(factory.django.DjangoModelFactory[Referral]):
    """A friend who joined through a referrer's code, `registered` unless told (pass state, reason_code and the
    timestamps the state implies).

    Pass `code` (its owner is the referrer) or `referrer` (their code is used, made if they have none), or
    neither: then a new member (`referrer__phone_verified=True`: one who may refer) with a new code.
    """

    class Meta:
        model = Referral

    class Params:
        # The Invite Friends page's usual friend: shared on WhatsApp, signed up three days ago.
        whatsapp_3_days_ago = factory.Trait(
            channel="whatsapp",
            registered_at=factory.LazyFunction(lambda: timezone.now() - timedelta(days=3)),
        )

    code = None  # filled in by _adjust_kwargs: the referrer's code
    referrer = factory.Maybe(
        "code",
        yes_declaration=factory.SelfAttribute("code.user"),
        no_declaration=factory.SubFactory(UserFactory),
    )
    friend = factory.SubFactory(UserFactory)
    state = "registered"
    registered_at = factory.LazyFunction(timezone.now)
    terms = None  # filled in by _adjust_kwargs: the regions' terms at registration, as sign-up freezes them

    @classmethod
    def _adjust_kwargs(cls, **kwargs: Any) -> dict[str, Any]:
        # The code depends on the referrer and the referrer on a given code, so the default code is made here,
        # once the referrer is known.
        if kwargs["code"] is None:
            kwargs["code"] = ReferralCodeFactory(user=kwargs["referrer"])
        if kwargs["terms"] is None:
            kwargs["terms"] = snapshot_for(
                friend_country=str(kwargs["friend"].country),
                referrer_country=str(kwargs["referrer"].country),
                at=kwargs["registered_at"],
            )
        return kwargs


class ReferralEventFactory(factory.django.DjangoModelFactory[ReferralEvent]):
    class Meta:
        model = ReferralEvent

    referral = factory.SubFactory(ReferralFactory, whatsapp_3_days_ago=True)
    from_state = ""
    to_state = factory.LazyAttribute(lambda o: o.referral.state)
    occurred_at = factory.LazyFunction(timezone.now)


class MilestoneTierFactory(factory.django.DjangoModelFactory[MilestoneTier]):
    """An active milestone of the default (US) region: a $10 bonus (min spend $30) for 3 friends in a quarter."""

    class Meta:
        model = MilestoneTier

    region = factory.LazyFunction(lambda: Region.objects.get(is_default=True))
    friends = 3
    value = Decimal("10.00")
    min_spend = Decimal("30.00")
    valid_days = 30
    is_active = True


# --- coupons ------------------------------------------------------------------------------------------------


class CouponFactory(factory.django.DjangoModelFactory[Coupon]):
    """An active $5 platform coupon (min spend $20) valid 30 days, issued by staff.

    With `referral=…` it is that referral's reward coupon: owned by the referrer, source `referral`.
    A row only: coupons.services.issue_coupon writes the ledger too.
    """

    class Meta:
        model = Coupon

    referral = None
    owner = factory.Maybe(
        "referral",
        yes_declaration=factory.SelfAttribute("referral.referrer"),
        no_declaration=factory.SubFactory(UserFactory),
    )
    kind = "platform"
    source = factory.Maybe("referral", yes_declaration=CouponSource.REFERRAL, no_declaration="manual")
    value = Decimal("5.00")
    min_spend = Decimal("20.00")
    currency = "USD"
    issued_at = factory.LazyFunction(timezone.now)
    expires_at = factory.LazyAttribute(lambda o: o.issued_at + timedelta(days=30))


class CampaignFactory(factory.django.DjangoModelFactory[Campaign]):
    """A running promo code campaign: $10 off, no minimum spend, started yesterday, no end."""

    class Meta:
        model = Campaign

    class Params:
        # A running platform event (no promo code) whose $11-off-$60 coupons members collect, ending in 10 days.
        platform_event = factory.Trait(
            name=factory.Sequence(lambda n: f"Event {n}"),
            kind=CouponKind.PLATFORM,
            code=None,
            value=Decimal("11.00"),
            min_spend=Decimal("60.00"),
            ends_at=factory.LazyFunction(lambda: timezone.now() + timedelta(days=10)),
            usage_limit=100,
        )

    name = factory.Sequence(lambda n: f"Campaign {n}")
    kind = "promo"
    code = factory.Sequence(lambda n: f"PROMO{n}")
    value = Decimal("10.00")
    min_spend = Decimal("0.00")
    currency = "USD"
    valid_days = 30
    starts_at = factory.LazyFunction(lambda: timezone.now() - timedelta(days=1))
    per_member_limit = 1


class ManualCouponRequestFactory(factory.django.DjangoModelFactory[ManualCouponRequest]):
    """A $30 platform coupon a staff member issued by hand above the $20 threshold, waiting for a second one."""

    class Meta:
        model = ManualCouponRequest

    requested_by = factory.SubFactory(UserFactory, is_staff=True)
    member = factory.SubFactory(UserFactory)
    kind = CouponKind.PLATFORM
    value = Decimal("30.00")
    min_spend = Decimal("0.00")
    currency = "USD"
    valid_days = 30
    reason = "Goodwill after a lost parcel"
    token = factory.Sequence(lambda n: f"manual-token-{n}")


class StoreOfferFactory(factory.django.DjangoModelFactory[StoreOffer]):
    """A store's $3-off-$20 coupon for its followers, started yesterday, no end, no total limit."""

    class Meta:
        model = StoreOffer

    store = factory.SubFactory(StoreFactory)
    audience = StoreOfferAudience.FOLLOWERS
    value = Decimal("3.00")
    min_spend = Decimal("20.00")
    currency = "USD"
    valid_days = 30
    starts_at = factory.LazyFunction(lambda: timezone.now() - timedelta(days=1))


# --- outbound -----------------------------------------------------------------------------------------------


class EndpointFactory(factory.django.DjangoModelFactory[Endpoint]):
    """A partner's HTTPS endpoint receiving every event type, with a fresh signing secret."""

    class Meta:
        model = Endpoint

    name = "CRM"
    url = "https://crm.example.com/hooks"
    secret = factory.LazyFunction(outbound_services.new_secret)


class OutboundEventFactory(factory.django.DjangoModelFactory[OutboundEvent]):
    """The outbound 'joined' event of one referral timeline row."""

    class Meta:
        model = OutboundEvent

    source = factory.SubFactory(ReferralEventFactory)
    referral = factory.SelfAttribute("source.referral")
    type = EventType.JOINED
    occurred_at = factory.LazyFunction(timezone.now)
    payload = factory.LazyAttribute(lambda o: {"id": f"evt_{o.source.pk}"})


class DeliveryFactory(factory.django.DjangoModelFactory[Delivery]):
    """A delivery that failed after its last attempt (what staff re-send)."""

    class Meta:
        model = Delivery

    endpoint = factory.SubFactory(EndpointFactory)
    event = factory.SubFactory(OutboundEventFactory)
    status = DeliveryStatus.FAILED
    attempts = 8
    next_attempt_at = None


# --- support ------------------------------------------------------------------------------------------------


class SupportRequestFactory(factory.django.DjangoModelFactory[SupportRequest]):
    """A referrer's dispute of a rejected referral."""

    class Meta:
        model = SupportRequest

    referral = factory.SubFactory(
        ReferralFactory, whatsapp_3_days_ago=True, state="rejected", reason_code="STAFF_REJECTED"
    )
    member = factory.LazyAttribute(lambda o: o.referral.referrer)
    kind = SupportRequest.Kind.DISPUTE_REJECTION
