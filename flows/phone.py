"""A member confirms a phone number, with what it causes in the referral program: a friend's medium-signal review
closes by itself on a qualifying phone (docs/program-rules.md section 2), with its audit row."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from accounts.models import User
from accounts.phone import confirm_phone_code
from referrals.services.second_chance import AUTO_CLOSE_NOTE, ClosedReview, close_review_by_phone
from support.audit import record_staff_action

SECOND_CHANCE_ACTION = "referral.second_chance"


@dataclass(frozen=True)
class PhoneConfirmed:
    member: User
    closed_review: ClosedReview | None = None


def confirm_phone(*, member: User, code: str) -> PhoneConfirmed:
    """Verify the member's pending phone (`accounts.phone.confirm_phone_code`, which raises on a refused code and
    keeps its attempt count), then give the friend's review its second chance in a transaction of its own."""
    member = confirm_phone_code(member=member, code=code)
    return PhoneConfirmed(member=member, closed_review=second_chance(member=member))


@transaction.atomic
def second_chance(*, member: User) -> ClosedReview | None:
    """Close the member's sign-up review if their verified phone qualifies, with the automatic audit row."""
    closed = close_review_by_phone(friend=member)
    if closed is not None:
        record_staff_action(
            actor=None,
            action=SECOND_CHANCE_ACTION,
            target=closed.referral,
            reason=AUTO_CLOSE_NOTE,
            details={
                "signals": list(closed.signals),
                "phone_country": closed.phone_country,
                "to_state": closed.to_state,
            },
        )
    return closed
