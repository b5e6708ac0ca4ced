"""Idempotent demo data for `make run`: run it any number of times.

Every later feature extends `build_demo` with its own `ensure_*` step, each of
which looks rows up by a natural key before creating them.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.models import User
from orders.demo import ensure_demo_orders
from referrals.demo import ensure_demo_referrals

DEMO_PASSWORD = "demo-pass-2026"  # noqa: S105 - demo accounts only
STAFF_EMAIL = "staff@example.com"
MEMBER_EMAIL = "member@example.com"
FLAGGED_EMAIL = "flagged@example.com"
MEMBER_PHONE = "+14155550123"  # a valid US number reserved for fiction (555-01xx)


def ensure_user(*, email: str, first_name: str, last_name: str = "", is_staff: bool = False, **extra) -> User:
    user = User.objects.filter(email=email).first()
    if user is None:
        user = User.objects.create_user(
            email=email, password=DEMO_PASSWORD, first_name=first_name, last_name=last_name, **extra
        )
    if is_staff and not (user.is_staff and user.is_superuser):
        user.is_staff = user.is_superuser = True
        user.save(update_fields=["is_staff", "is_superuser"])
    return user


def ensure_member_identity(*, user: User, phone: str, country: str) -> User:
    """The member's verified phone and country (e-mail confirmed too), set once."""
    from django.utils import timezone

    now = timezone.now()
    changed = []
    if str(user.country) != country:
        user.country = country
        changed.append("country")
    if user.phone != phone or user.phone_verified_at is None:
        user.phone, user.phone_verified_at = phone, user.phone_verified_at or now
        changed += ["phone", "phone_verified_at"]
    if user.email_verified_at is None:
        user.email_verified_at = now
        changed.append("email_verified_at")
    if changed:
        user.save(update_fields=changed)
    return user


def ensure_flagged(*, user: User) -> User:
    """A flagged demo member, flagged through the service (so status_changed_at is set)."""
    from accounts.models import AccountStatus, StatusReason
    from accounts.services import flag_account

    if user.status != AccountStatus.FLAGGED:
        flag_account(member=user, reason_code=StatusReason.DEVICE_RING)
    return user


@transaction.atomic
def build_demo() -> list[tuple[str, str]]:
    """Create the demo world; returns the (role, e-mail) logins to print."""
    ensure_user(email=STAFF_EMAIL, first_name="Sam", last_name="Support", is_staff=True)
    member = ensure_user(email=MEMBER_EMAIL, first_name="Maya", last_name="Member", country="US")
    ensure_member_identity(user=member, phone=MEMBER_PHONE, country="US")
    flagged = ensure_user(email=FLAGGED_EMAIL, first_name="Fred", last_name="Flagged", country="US")
    ensure_flagged(user=flagged)
    ensure_demo_orders(buyer=member)
    ensure_demo_referrals(member=member, make_user=ensure_user)
    ensure_coupons()
    ensure_demo_clicks(member=member)
    ensure_demo_referral_states(member=member)
    from accounts.demo import ensure_rewards_demo

    ensure_rewards_demo(member=member)
    return [("staff (admin)", STAFF_EMAIL), ("member", MEMBER_EMAIL), ("flagged member", FLAGGED_EMAIL)]


def ensure_coupons() -> None:
    """Coupons of every kind for the demo member, and the WELCOME10 promo code."""
    from coupons.demo import ensure_demo_coupons

    ensure_demo_coupons(User.objects.get(email=MEMBER_EMAIL))


# Link opens per channel for the demo member, so the Invite Friends funnel shows something.
DEMO_CLICKS = {"whatsapp": 14, "telegram": 6, "facebook": 9, "instagram": 5, "x": 3, "email": 4, "copy": 7, "qr": 2}


def ensure_demo_clicks(*, member: User) -> None:
    """Top up the member's clicks per channel to DEMO_CLICKS (never adds more on a re-run)."""
    from datetime import timedelta

    from django.db.models import Count
    from django.utils import timezone

    from referrals.models import Click
    from referrals.services import ensure_referral_code

    code = ensure_referral_code(member=member)
    have = dict(Click.objects.filter(referral_code=code).values_list("channel").annotate(n=Count("id")))
    now = timezone.now()
    Click.objects.bulk_create(
        Click(referral_code=code, channel=channel, clicked_at=now - timedelta(days=i % 20, hours=i))
        for channel, wanted in DEMO_CLICKS.items()
        for i in range(have.get(channel, 0), wanted)
    )


# The demo member's friends, one per referral state: (state, first name, days ago they signed up).
DEMO_REFERRALS = [
    ("credited", "Carla", 20),
    ("qualified", "Quentin", 6),
    ("capped", "Cody", 15),
    ("voided", "Vera", 12),
    ("under_review", "Rita", 3),
    ("order_placed", "Omar", 2),
]


def ensure_demo_referral_states(*, member: User) -> None:
    """The member's referrals in every state, driven through the real services; keyed by friend e-mail."""
    from datetime import timedelta
    from decimal import Decimal

    from django.utils import timezone

    from orders.models import Order, PaymentCard
    from referrals.models import Referral
    from referrals.reasons import ReasonCode, ReferralState
    from referrals.services import credit_referral, ensure_referral_code, record_first_order_event, record_start
    from referrals.services.timeline import transition

    code = ensure_referral_code(member=member)
    now = timezone.now()
    for state, name, days in DEMO_REFERRALS:
        email = f"friend.{state.replace('_', '-')}@example.com"
        if Referral.objects.filter(friend__email=email).exists():
            continue
        friend = ensure_user(email=email, first_name=name, last_name="Friend", country="US")
        signed_up = now - timedelta(days=days)
        review = state == ReferralState.UNDER_REVIEW
        referral = Referral.objects.create(
            referrer=member,
            friend=friend,
            code=code,
            channel="whatsapp",
            registered_at=signed_up,
            state=ReferralState.UNDER_REVIEW if review else ReferralState.REGISTERED,
            reason_code=ReasonCode.DISPOSABLE_EMAIL if review else "",
            review_requested_at=signed_up if review else None,
            signals={"email_domain": "mailinator.com"} if review else {},
        )
        record_start(referral=referral, occurred_at=signed_up)
        if state in (ReferralState.REGISTERED, ReferralState.UNDER_REVIEW):
            continue
        card, _ = PaymentCard.objects.get_or_create(
            user=friend, fingerprint=f"demo-card-{state}", defaults={"label": "Visa ending 4242"}
        )
        placed = signed_up + timedelta(hours=2)
        order, _ = Order.objects.get_or_create(
            external_id=f"DEMO-FIRST-{state.upper()}",
            defaults={
                "buyer": friend,
                "is_first": True,
                "card": card,
                "subtotal": Decimal("42.00"),
                "total": Decimal("42.00"),
                "placed_at": placed,
            },
        )
        record_first_order_event(order=order, event="placed", occurred_at=placed)
        if state == ReferralState.VOIDED:
            Order.objects.filter(pk=order.pk).update(state="canceled", canceled_at=placed + timedelta(hours=5))
            record_first_order_event(order=order, event="canceled", occurred_at=placed + timedelta(hours=5))
            continue
        if state == ReferralState.ORDER_PLACED:
            continue
        done = placed + timedelta(days=1)
        Order.objects.filter(pk=order.pk).update(state="completed", completed_at=done)
        record_first_order_event(order=order, event="completed", occurred_at=done)
        referral.refresh_from_db()
        if state == ReferralState.CREDITED:
            credit_referral(referral_id=referral.pk)
        elif state == ReferralState.CAPPED:
            transition(
                referral=referral,
                to_state=ReferralState.CAPPED,
                from_states=[ReferralState.QUALIFIED],
                reason_code=ReasonCode.MONTHLY_LIMIT,
                note="Demo: 10 of 10 referral coupons already credited that month.",
            )


class Command(BaseCommand):
    help = "Create or refresh the demo data (idempotent)."

    def handle(self, *args, **options):
        logins = build_demo()
        self.stdout.write(self.style.SUCCESS(f"Demo data ready. Logins (password: {DEMO_PASSWORD}):"))
        for role, email in logins:
            self.stdout.write(f"  {role:<16} {email}")
