"""Write use cases of the referral program."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from accounts.models import User
from referrals.codes import generate_code
from referrals.models import ReferralCode


def ensure_referral_code(*, member: User) -> ReferralCode:
    """Return the member's one permanent code, creating it on first use; safe under races."""
    existing = ReferralCode.objects.filter(user=member).first()
    if existing:
        return existing
    for _ in range(10):
        try:
            with transaction.atomic():
                return ReferralCode.objects.create(user=member, code=generate_code())
        except IntegrityError:
            # Either a code collision (retry) or another request created this user's code.
            existing = ReferralCode.objects.filter(user=member).first()
            if existing:
                return existing
    raise RuntimeError("could not allocate a unique referral code")
