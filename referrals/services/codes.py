"""Write use cases of the referral program."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import QuerySet

from accounts.models import User
from lib import sqlonce
from referrals.codes import generate_code
from referrals.models import ReferralCode


def _code_of(member_id: int) -> QuerySet[ReferralCode]:
    return ReferralCode.objects.filter(user_id=member_id).order_by("pk")


def ensure_referral_code(*, member: User) -> ReferralCode:
    """Return the member's one permanent code, creating it on first use; safe under races."""
    found = sqlonce.instances(_code_of, member.pk, limit=1)
    if found:
        return found[0]
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
