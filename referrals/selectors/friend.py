"""What a friend (a member who joined through an invitation) reads about it, and whether staff hold it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Exists, OuterRef, Q, QuerySet

from accounts.models import User
from accounts.selectors import region_for_country
from lib import sqlonce
from referrals.eligibility import welcome_package_due
from referrals.explain import friend_signup_notice as notice_words
from referrals.models import Referral, ReferralEvent
from referrals.reasons import ReasonCode, ReferralState
from referrals.terms import ReferralTerms, referral_terms


def friend_signup_notice(*, referral: Referral) -> str:
    """What the friend reads right after signing up through `referral` (wording: `referrals.explain`)."""
    in_program = True
    if referral.reason_code == ReasonCode.REGION_RESTRICTED:
        # Only the friend's own region decides the wording: the referrer's is never told.
        in_program = region_for_country(str(referral.friend.country)).is_in_program
    return notice_words(
        state=referral.state,
        reason_code=referral.reason_code,
        friend_region_in_program=in_program,
        # A friend flagged at sign-up (a device ring) is told only the security sentence.
        friend_flagged=not referral.friend.may_use_program,
        welcome_issued=welcome_package_due(state=referral.state, signals=referral.signals),
    )


def _under_review_since_signup() -> Q:
    # Never in another state (every change writes a timeline row), and not a hold at qualification.
    left_review = ReferralEvent.objects.filter(referral=OuterRef("pk")).exclude(
        to_state=ReferralState.UNDER_REVIEW, from_state__in=["", ReferralState.UNDER_REVIEW]
    )
    return Q(state=ReferralState.UNDER_REVIEW) & ~Q(reason_code=ReasonCode.REFERRER_BURST) & ~Q(Exists(left_review))


def review_opened_at_signup(*, referral: Referral) -> bool:
    """Under review since sign-up, so the friend's welcome coupons wait on the decision.

    A review opened at the first order (REFERRER_BURST, held at qualification) concerns the
    referrer's reward only: the friend already has their welcome coupons.
    """
    return Referral.objects.filter(_under_review_since_signup(), pk=referral.pk).exists()


def _pending_welcome(friend_id: int) -> QuerySet:
    return Referral.objects.filter(_under_review_since_signup(), friend_id=friend_id).order_by().values_list("pk")


def welcome_package_pending(*, friend: User) -> bool:
    """The friend joined through a link and their welcome coupons wait for a staff review (opened at sign-up)."""
    return bool(sqlonce.rows(_pending_welcome, friend.pk, limit=1))


# Medium signals a verified, never-used phone of the account's country answers (docs/program-rules.md section 2).
SECOND_CHANCE_SIGNALS = frozenset({ReasonCode.SHARED_IP_AND_AGENT, ReasonCode.REGION_MISMATCH})


def review_may_close_by_phone(referral: Referral) -> bool:
    """Under review since sign-up, and only for medium signals a verified phone can answer."""
    if referral.state != ReferralState.UNDER_REVIEW:
        return False
    signals = referral.signals or {}
    medium = set(signals.get("medium") or ())
    if signals.get("strong") or not medium or not medium <= SECOND_CHANCE_SIGNALS:
        return False
    return review_opened_at_signup(referral=referral)


@dataclass(frozen=True)
class FriendInvitation:
    """What the friend's "Your invitation" page shows (docs/program-rules.md sections 2 and 7)."""

    referral: Referral
    inviter_name: str
    joined_at: datetime
    notice: str
    terms: ReferralTerms
    under_review: bool
    # The review may still close itself on a verified phone of the account's country.
    may_close_by_phone: bool
    # The review closed itself when the friend verified a phone (`services.second_chance`): when, else None.
    closed_by_phone_at: datetime | None
    phone_verified: bool


def friend_invitation(*, friend: User) -> FriendInvitation | None:
    """The invitation the friend joined with, its frozen terms and where it stands; None without one."""
    referral = Referral.objects.select_related("referrer", "friend").filter(friend=friend).first()
    if referral is None:
        return None
    second_chance = (referral.signals or {}).get("second_chance") or {}
    closed_at = datetime.fromisoformat(second_chance["at"]) if second_chance.get("at") else None
    return FriendInvitation(
        referral=referral,
        inviter_name=referral.referrer.first_name,
        joined_at=referral.registered_at,
        notice=friend_signup_notice(referral=referral) if referral.state in _NOTICE_STATES else "",
        terms=referral_terms(referral),
        under_review=referral.state == ReferralState.UNDER_REVIEW,
        may_close_by_phone=review_may_close_by_phone(referral),
        closed_by_phone_at=closed_at,
        phone_verified=referral.friend.phone_verified_at is not None,
    )


# After these the friend's own part is settled; later states concern the referrer's reward only.
_NOTICE_STATES = (ReferralState.REGISTERED, ReferralState.UNDER_REVIEW, ReferralState.REJECTED)
