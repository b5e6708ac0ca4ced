"""What a friend (a member who joined through an invitation) reads about it, and whether staff hold it."""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Q

from accounts.models import User
from accounts.selectors import region_for_country
from referrals.eligibility import welcome_package_due
from referrals.explain import friend_signup_notice as notice_words
from referrals.models import Referral, ReferralEvent
from referrals.reasons import ReasonCode, ReferralState


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


def welcome_package_pending(*, friend: User) -> bool:
    """The friend joined through a link and their welcome coupons wait for a staff review (opened at sign-up)."""
    return Referral.objects.filter(_under_review_since_signup(), friend=friend).exists()
