"""A small world for admin tests: one row of (nearly) every registered model, built through services."""

from __future__ import annotations

from decimal import Decimal
from itertools import count

from django.utils import timezone

from accounts.models import IPSighting, Notification
from coupons.services import issue_coupon
from orders.models import OrderEvent, OrderLine
from referrals.models import Click, MonthlyRewardCounter, ReferralEvent
from referrals.services.timeline import record_start
from support.audit import record_staff_action
from support.models import SupportRequest
from tests.factories import (
    AccountDeviceFactory,
    OrderFactory,
    PaymentCardFactory,
    ProductFactory,
    ReferralCodeFactory,
    ReferralFactory,
    UserFactory,
)

_seq = count(1)


def referral_with_timeline(*, state="registered", reason_code="", signals=None, **extra):
    # A new referrer may refer (with `code=`, its owner is the referrer).
    referral = ReferralFactory(
        referrer__phone_verified=True, state=state, reason_code=reason_code, signals=signals or {}, **extra
    )
    record_start(referral=referral, note="Joined via WhatsApp")
    return referral


def reward_coupon(referral, *, value=Decimal("5.00")):
    return issue_coupon(
        member=referral.referrer,
        source="referral",
        referral=referral,
        value=value,
        min_spend=Decimal("20.00"),
        idempotency_key=f"test-reward:{referral.pk}",
        reason="Referral reward",
    )


def order_for(user, *, is_first=True):
    return OrderFactory(buyer=user, is_first=is_first, card=None, total=Decimal("30.00"), subtotal=Decimal("30.00"))


def build_world(actor) -> dict:
    """Rows for every model admin that needs one to show a change form."""
    code = ReferralCodeFactory()
    referral = referral_with_timeline(
        code=code,
        state="under_review",
        reason_code="DISPOSABLE_EMAIL",
        signals={"strong": [], "medium": ["DISPOSABLE_EMAIL"], "weak": [], "checks": {"disposable_email": True}},
        review_requested_at=timezone.now(),
    )
    credited = referral_with_timeline(code=code, state="credited")
    coupon = reward_coupon(credited)
    order = order_for(referral.friend)
    product = ProductFactory()
    OrderLine.objects.create(
        order=order, product=product, store=product.store, name=product.name, quantity=1, unit_price=product.price
    )
    OrderEvent.objects.create(
        event_id=f"evt-{next(_seq)}",
        type="order.placed",
        order_external_id=order.external_id,
        occurred_at=timezone.now(),
    )
    card = PaymentCardFactory(user=referral.friend)
    link = AccountDeviceFactory(user=referral.friend)
    IPSighting.objects.create(user=referral.friend, kind="signup", ip_hash="a" * 64, ip_country="US")
    Click.objects.create(referral_code=code, channel="whatsapp", device=link.device, ip_hash="b" * 64)
    MonthlyRewardCounter.objects.create(referrer=code.user, month=timezone.now().date().replace(day=1), count=1)
    notice = Notification.objects.create(user=code.user, kind="friend_joined", title="A friend joined")
    SupportRequest.objects.create(member=code.user, referral=credited, kind="other", message="Hello")
    audit = record_staff_action(actor=actor, action="test.seed", target=referral, reason="seed")
    from referrals.models import Referral

    return {
        "code": code,
        "referral": referral,
        "credited": credited,
        "coupon": coupon,
        "order": order,
        "card": card,
        "device": link.device,
        "notice": notice,
        "audit": audit,
        "event": ReferralEvent.objects.filter(referral=referral).first(),
        "referrals": Referral.objects.all(),
    }


def service(module: str, name: str):
    """The service an admin action calls; a missing one fails the test (it must never be skipped)."""
    from importlib import import_module

    return getattr(import_module(module), name)


__all__ = ["UserFactory", "build_world", "order_for", "referral_with_timeline", "reward_coupon", "service"]
