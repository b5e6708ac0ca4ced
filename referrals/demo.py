"""Demo referrals for `load_demo_data`: the member's code and a few friends (idempotent)."""

from __future__ import annotations

from django.db import transaction

from referrals.models import Channel, Referral
from referrals.reasons import ReasonCode, ReferralState
from referrals.services.codes import ensure_referral_code
from referrals.services.signup import issue_welcome_package
from referrals.services.timeline import record_start

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
