"""A friend's sign-up through a link, with what it causes outside the referral program."""

from __future__ import annotations

from django.db import transaction

from accounts.models import User
from lib.client import ClientInfo
from referrals.models import Referral
from referrals.services import signup
from referrals.services.attribution import Attribution
from support.audit import record_staff_action


@transaction.atomic
def register_referral(
    *, friend: User, client: ClientInfo, attribution: Attribution | None, typed_code: str = ""
) -> Referral | None:
    """Bind the new member to at most one referral code (referrals.services.signup.register_referral), and write
    the automatic audit row of every account a device ring flagged at this sign-up, in the same transaction."""
    result = signup.register_referral(friend=friend, client=client, attribution=attribution, typed_code=typed_code)
    if result.ring is not None:
        for flag in result.ring.flags:
            record_staff_action(
                actor=None, action=flag.action, target=flag.member, reason=flag.reason, details=flag.details
            )
    return result.referral
