"""What a referral's state means to the member, in plain words, and what to do next.

`explain` is a pure function: it reads the referral's fields (and, for a capped
one, the `month_ordinal` and `counted_month` the selector annotates) and the clock, and decides the
words, the tone and whether the member may open a support request. The same
decision is used by the page and by the support service, so the button and the
server-side check can never disagree. The words of each reason code are those
of `referrals.reasons.REASON_WORDS`; the delays those of `referrals.program`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from referrals.program import CREDIT_DEADLINE, SUPPORT_AFTER, hours_text
from referrals.reasons import (
    FLAGGED_MESSAGE,
    FRIEND_INVITATION_NOT_VALID,
    REFERRER_DEVICE_LIMIT_WORDS,
    REJECTED_WORDS,
    ReasonCode,
    ReferralState,
    friend_words,
    reason_words,
)

if TYPE_CHECKING:  # types only: explain stays a pure function over the referral's fields
    from referrals.models import Referral

SUPPORT_NOT_CREDITED = "not_credited"
SUPPORT_DISPUTE = "dispute"

IN_PROGRESS_STATES = (
    ReferralState.REGISTERED,
    ReferralState.ORDER_PLACED,
    ReferralState.QUALIFIED,
    ReferralState.UNDER_REVIEW,
)
NOT_CREDITED_STATES = (ReferralState.CAPPED, ReferralState.VOIDED, ReferralState.REJECTED)


@dataclass(frozen=True)
class Explanation:
    state: str
    reason_code: str
    # One sentence: what happened / why.
    reason: str
    # One sentence: what the member can do now.
    next_step: str
    # success | info | warning | danger: the alert/badge tone.
    tone: str
    is_delayed: bool = False
    # "" (no button), "not_credited" or "dispute": SupportRequest.Kind values.
    support_kind: str = ""
    support_label: str = ""

    @property
    def can_request_support(self) -> bool:
        return bool(self.support_kind)


def _referrer_device_limit(referral: Referral) -> bool:
    """Whether a DEVICE_LIMIT rejection was on the referrer's side: the Invite Friends cards annotate the stored
    check (`referrer_device_limit`, JSON text); elsewhere it is read from the referral's signals."""
    annotated = getattr(referral, "referrer_device_limit", None)
    if annotated is not None:
        return str(annotated).lower() in ("true", "1")
    if hasattr(referral, "_meta") and "signals" in referral.get_deferred_fields():
        return False  # never load the whole signals JSON for one sentence
    checks = (getattr(referral, "signals", None) or {}).get("checks") or {}
    return bool(checks.get("referrer_device_limit"))


def _reason(code: str) -> tuple[str, str]:
    words = reason_words(code)
    return str(words.why), str(words.next_step)


def explain(referral: Referral, *, now: datetime) -> Explanation:
    """Plain words for the referral's state and reason, the next step, and whether support can be asked."""
    state = referral.state
    code = referral.reason_code or ""
    why, what_next = _reason(code)

    # A non-blocking note on a referral still in progress (weak signal, staff approval).
    note = f" {why}" if why and code in (ReasonCode.SHARED_IP, ReasonCode.STAFF_APPROVED) else ""
    if state == ReferralState.REGISTERED:
        return Explanation(
            state,
            code,
            _("Your friend signed up through your link. No order yet.") + note,
            _("Remind your friend that their welcome coupons are waiting for their first order."),
            "info",
        )
    if state == ReferralState.ORDER_PLACED:
        return Explanation(
            state,
            code,
            _("Your friend placed their first order. It counts once the order is completed (delivered and final).")
            + note,
            _("Nothing to do: your coupon follows automatically when the order completes."),
            "info",
        )
    if state == ReferralState.QUALIFIED:
        late_by = (now - referral.completed_at) if referral.completed_at else timedelta(0)
        if late_by >= CREDIT_DEADLINE or code == ReasonCode.TECHNICAL_DELAY:
            why, what_next = _reason(ReasonCode.TECHNICAL_DELAY)
            if late_by >= SUPPORT_AFTER:
                return Explanation(
                    state,
                    ReasonCode.TECHNICAL_DELAY,
                    why,
                    _(
                        "It has been more than %(hours)s: ask support and we will credit it by hand. "
                        "Everything support needs is attached for you."
                    )
                    % {"hours": hours_text(SUPPORT_AFTER)},
                    "warning",
                    is_delayed=True,
                    support_kind=SUPPORT_NOT_CREDITED,
                    support_label=_("Ask support about this coupon"),
                )
            return Explanation(
                state,
                ReasonCode.TECHNICAL_DELAY,
                why,
                what_next
                + " "
                + _("If it is still missing %(hours)s after the order completed, you can ask support here.")
                % {"hours": hours_text(SUPPORT_AFTER)},
                "warning",
                is_delayed=True,
            )
        return Explanation(
            state,
            code,
            _("Your friend's first order is completed. Your coupon is on its way."),
            _("Nothing to do: it usually arrives within minutes, always within %(hours)s.")
            % {"hours": hours_text(CREDIT_DEADLINE)},
            "success",
        )
    if state == ReferralState.CREDITED:
        if code == ReasonCode.MANUAL_CREDIT:
            return Explanation(state, code, why, what_next, "success")
        return Explanation(
            state,
            code,
            _("Your friend's first order is completed and your coupon was issued."),
            _("Find it in My Coupons and use it before it expires."),
            "success",
        )
    if state == ReferralState.CAPPED:
        month_ordinal = getattr(referral, "month_ordinal", None)
        month = getattr(referral, "counted_month", None)
        counted = ""
        if month_ordinal and month is not None:
            # The card names its month, never "this month" (docs/program-rules.md section 3). `counted_month` is
            # the month's first instant in the zone the database returned it in: the 16th names the month in any.
            counted = _("Counted, not credited: friend number %(number)s to qualify in %(month)s.") % {
                "number": month_ordinal,
                "month": date_format(month + timedelta(days=15), "YEAR_MONTH_FORMAT"),
            }
        return Explanation(
            state,
            code or ReasonCode.MONTHLY_LIMIT,
            f"{counted} {_reason(ReasonCode.MONTHLY_LIMIT)[0]}".strip(),
            _reason(ReasonCode.MONTHLY_LIMIT)[1],
            "warning",
        )
    if state == ReferralState.VOIDED:
        if not why:
            why, what_next = _reason(ReasonCode.FIRST_ORDER_CANCELED)
        return Explanation(state, code, why, what_next, "danger")
    if state == ReferralState.REJECTED:
        if code == ReasonCode.DEVICE_LIMIT and _referrer_device_limit(referral):
            why, what_next = str(REFERRER_DEVICE_LIMIT_WORDS.why), str(REFERRER_DEVICE_LIMIT_WORDS.next_step)
        if not why:
            why, what_next = str(REJECTED_WORDS.why), str(REJECTED_WORDS.next_step)
        return Explanation(
            state,
            code,
            why,
            what_next,
            "danger",
            support_kind=SUPPORT_DISPUTE,
            support_label=_("I think this is wrong"),
        )
    if state == ReferralState.UNDER_REVIEW:
        if not why or code in (ReasonCode.STAFF_APPROVED, ReasonCode.SHARED_IP):
            why, what_next = _reason(ReasonCode.SHARED_IP_AND_AGENT)
            why = _("We are checking this referral by hand, as we do for a few sign-ups.")
        return Explanation(state, code, why, what_next, "warning")
    # A state this module does not know yet: say so instead of guessing.
    return Explanation(
        state, code, why or _("We are processing this referral."), what_next or _("Nothing to do."), "info"
    )


# --- What the friend reads right after signing up through a link (docs/program-rules.md section 2) ---
#
# The referrer's texts above say more than a friend may learn: the friend never reads the fraud
# signal that decided (same device, card, e-mail...) nor anything about the referrer
# (`ReasonWords.friend`).

FRIEND_WELCOME_TEXT = gettext_lazy("Your welcome coupons are here, ready for your first orders.")
FRIEND_REVIEW_TEXT = gettext_lazy(
    "Your welcome coupons are waiting for a quick check by our team; "
    "they appear in My Coupons as soon as it is done, usually within a day."
)


def friend_signup_notice(
    *,
    state: str,
    reason_code: str = "",
    friend_region_in_program: bool = True,
    friend_flagged: bool = False,
    welcome_issued: bool = False,
) -> str:
    """The sentence shown to a friend just after signing up through a link; "" when there is nothing to say.

    A flagged account (friend's or referrer's, including a friend flagged by this very sign-up as part of
    a device ring) reads exactly FLAGGED_MESSAGE, nothing more (docs/program-rules.md G5). Any other
    rejection says the invitation could not be applied (the welcome message already says the account is
    ready), with a reason that names neither the referrer nor the fraud signal. A referral rejected only on
    the referrer's side still gave the friend the welcome package (`welcome_issued`): the friend reads the
    welcome sentence, and nothing about the referrer.
    """
    if friend_flagged:
        return str(FLAGGED_MESSAGE)
    if state == ReferralState.REGISTERED or (state == ReferralState.REJECTED and welcome_issued):
        return str(FRIEND_WELCOME_TEXT)
    if state == ReferralState.UNDER_REVIEW:
        return str(FRIEND_REVIEW_TEXT)
    if state != ReferralState.REJECTED:
        return ""
    if reason_code == ReasonCode.ACCOUNT_FLAGGED:
        return str(FLAGGED_MESSAGE)
    if reason_code == ReasonCode.REGION_RESTRICTED and friend_region_in_program:
        why = str(FRIEND_INVITATION_NOT_VALID)
    else:
        why = str(friend_words(reason_code))
    return _("Your invitation could not be applied: %(reason)s.") % {"reason": why}
