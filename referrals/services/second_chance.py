"""A fair second chance (docs/program-rules.md section 2): a medium-signal review opened at sign-up closes by
itself when the friend verifies a phone number of the account's country that no other account has used.

Only a review whose every signal is one of `selectors.friend.SECOND_CHANCE_SIGNALS` (same network and
browser as the referrer, location not matching the account's country) qualifies; any other signal waits for
staff. The referral then continues exactly as a staff approval would (`review.continue_after_review`); the
caller (`flows.phone`) writes the audit row this returns.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from accounts.identity import phone_country
from accounts.models import PhoneVerification, User
from referrals.models import Referral, ReferralEvent
from referrals.reasons import ReferralState
from referrals.selectors.friend import SECOND_CHANCE_SIGNALS, review_may_close_by_phone
from referrals.services.review import continue_after_review

AUTO_CLOSE_NOTE = (
    "Review closed automatically: the friend verified a phone number of the account's country "
    "that no other account has used (second chance)."
)


@dataclass(frozen=True)
class ClosedReview:
    """A review that closed itself: what the audit row records."""

    referral: Referral
    signals: tuple[str, ...]
    phone_country: str
    to_state: str


def phone_is_fresh(*, member: User, phone: str) -> bool:
    """No other account has this number, verified or not, nor ever verified it."""
    others = User.objects.exclude(pk=member.pk)
    if others.filter(phone=phone).exists():
        return False
    return not PhoneVerification.objects.filter(phone=phone, used_at__isnull=False).exclude(user=member).exists()


@transaction.atomic
def close_review_by_phone(*, friend: User) -> ClosedReview | None:
    """Close the friend's sign-up review if their verified phone qualifies; None (nothing changes) otherwise."""
    referral = (
        Referral.objects.select_for_update(of=("self",))
        .select_related("referrer", "friend", "first_order__card")
        .filter(friend=friend)
        .first()
    )
    if referral is None or not review_may_close_by_phone(referral):
        return None
    member = referral.friend
    if member.phone_verified_at is None or not member.phone:
        return None
    country = phone_country(member.phone)
    if country.upper() != str(member.country).upper() or not phone_is_fresh(member=member, phone=member.phone):
        return None
    signals = tuple(sorted((referral.signals or {}).get("medium") or ()))
    now = timezone.now()
    record = {"at": now.isoformat(), "phone_country": country, "signals": list(signals)}
    stored = {**(referral.signals or {}), "second_chance": record}
    Referral.objects.filter(pk=referral.pk).update(signals=stored)
    referral.signals = stored
    continue_after_review(
        referral, note=AUTO_CLOSE_NOTE, reason_code="", staff={"actor": None, "actor_kind": ReferralEvent.Actor.MEMBER}
    )
    if referral.state != ReferralState.VOIDED and referral.reason_code in SECOND_CHANCE_SIGNALS:
        # The signal that held it is answered: the card no longer reads as a review's reason.
        Referral.objects.filter(pk=referral.pk).update(reason_code="")
        referral.reason_code = ""
    return ClosedReview(referral=referral, signals=signals, phone_country=country, to_state=referral.state)
