"""Demo referrals for `load_demo_data`: the member's code and a few friends (idempotent)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from orders.models import Order, PaymentCard
from referrals.models import Channel, Click, Referral
from referrals.reasons import ReasonCode, ReferralState
from referrals.selectors.funnel import clicks_by_channel
from referrals.services import credit_referral, record_first_order_event
from referrals.services.codes import ensure_referral_code
from referrals.services.rollup import add_old_clicks
from referrals.services.signup import issue_welcome_package
from referrals.services.timeline import record_start, transition

DEMO_FRIENDS = [
    # (e-mail, first name, state, reason, channel, signals shown to staff)
    ("fiona.friend@example.com", "Fiona", ReferralState.REGISTERED, "", Channel.WHATSAPP, {"demo": True}),
    (
        "ravi.repeat@example.com",
        "Ravi",
        ReferralState.REJECTED,
        ReasonCode.ALREADY_REGISTERED,
        Channel.EMAIL,
        {"demo": True, "strong": [ReasonCode.ALREADY_REGISTERED], "facts": {"accounts_with_email": 1}},
    ),
    (
        "selma.same@example.com",
        "Selma",
        ReferralState.REJECTED,
        ReasonCode.SELF_REFERRAL,
        Channel.COPY,
        {"demo": True, "strong": [ReasonCode.SELF_REFERRAL], "checks": {"same_device_as_referrer": True}},
    ),
]


@transaction.atomic
def ensure_demo_referrals(*, member, make_user) -> None:
    """Give `member` a code and the demo friends; `make_user(email=, first_name=)` creates/gets a member."""
    code = ensure_referral_code(member=member)
    for email, first_name, state, reason, channel, signals in DEMO_FRIENDS:
        friend = make_user(email=email, first_name=first_name, last_name="Demo", country="US")
        if Referral.objects.filter(friend=friend).exists():
            continue
        referral = Referral.objects.create(
            referrer=member,
            friend=friend,
            code=code,
            channel=channel,
            state=state,
            reason_code=reason,
            signals=signals,
            decided_at=friend.date_joined if state == ReferralState.REJECTED else None,
        )
        record_start(referral=referral, note="Demo data")
        if state == ReferralState.REGISTERED:
            issue_welcome_package(referral=referral)


# Link opens per channel for the demo member, so the Invite Friends funnel shows something.
DEMO_CLICKS = {"whatsapp": 14, "telegram": 6, "facebook": 9, "instagram": 5, "x": 3, "email": 4, "copy": 7, "qr": 2}


def ensure_demo_clicks(*, member: User) -> None:
    """Top up the member's clicks per channel to DEMO_CLICKS (never adds more on a re-run)."""
    code = ensure_referral_code(member=member)
    # What the funnel counts (rolled up, pruned and raw), not the raw rows: a re-run after the roll-up or the
    # retention job has passed the demo clicks adds none. Back-dated clicks go through `add_old_clicks`, which
    # counts those before the roll-up's watermark as the roll-up would have.
    have = clicks_by_channel(member=member)
    now = timezone.now()
    add_old_clicks(
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


def ensure_demo_referral_states(*, member: User, make_user: Callable[..., User]) -> None:
    """The member's referrals in every state, driven through the real services; keyed by friend e-mail."""
    code = ensure_referral_code(member=member)
    now = timezone.now()
    for state, name, days in DEMO_REFERRALS:
        email = f"friend.{state.replace('_', '-')}@example.com"
        if Referral.objects.filter(friend__email=email).exists():
            continue
        friend = make_user(email=email, first_name=name, last_name="Friend", country="US")
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
