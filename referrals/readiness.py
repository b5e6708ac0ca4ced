"""What stands between a member and a link that earns (docs/program-rules.md section 9, "Readiness first").

A pure function over the member's own fields and their region (no database): Invite Friends shows its
blockers before any share button, and shows share buttons only when `can_earn`. The same conditions make a
friend's referral fail on the referrer's side (`referrals.eligibility.decide`: REFERRER_INACTIVE,
REGION_RESTRICTED, ACCOUNT_FLAGGED).
"""

from __future__ import annotations

from dataclasses import dataclass

from accounts.models import Region, User


@dataclass(frozen=True)
class Readiness:
    # Flagged or suspended: the security sentence only (docs/program-rules.md G5), and the way to an appeal.
    restricted: bool
    # The member's country is not in the program: no link earns there.
    region_outside: bool
    # No verified phone number: every friend's referral would be REFERRER_INACTIVE.
    phone_unverified: bool

    @property
    def can_earn(self) -> bool:
        return not (self.restricted or self.region_outside or self.phone_unverified)


def readiness(*, member: User, region: Region) -> Readiness:
    return Readiness(
        restricted=not member.may_use_program,
        region_outside=not region.is_in_program,
        phone_unverified=member.phone_verified_at is None,
    )
