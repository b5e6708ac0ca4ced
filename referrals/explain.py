"""What a referral's state means to the member, in plain words, and what to do next.

`explain` is a pure function: it reads the referral's fields (and, for a capped
one, the `month_ordinal` the selector annotates) and the clock, and decides the
words, the tone and whether the member may open a support request. The same
decision is used by the page and by the support service, so the button and the
server-side check can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from referrals.reasons import FLAGGED_MESSAGE, ReasonCode, ReferralState

# A referral still `qualified` this long after completion is late (PROGRAM_RULES.md section 3).
DELAY_AFTER = timedelta(hours=24)
# ... and from this long on the member may ask support about it.
SUPPORT_AFTER = timedelta(hours=48)

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


# Every reason code in plain words: (why, what next). Shown to the referrer.
REASON_TEXT: dict[str, tuple[str, str]] = {
    ReasonCode.ALREADY_REGISTERED: (
        "Your friend's e-mail, phone, device or card was already used by another account, so this is not a new member.",
        "Only people who have never shopped here count. Invite friends who are new to the marketplace.",
    ),
    ReasonCode.SELF_REFERRAL: (
        "This sign-up used your own device, phone, card or e-mail address, so it counts as inviting yourself.",
        "Rewards are for inviting other people. Share your link with friends on their own devices.",
    ),
    ReasonCode.DEVICE_LIMIT: (
        "Your friend's device already has 4 accounts taking part in the program.",
        "Friends need to sign up on their own phone or computer to count.",
    ),
    ReasonCode.REGION_RESTRICTED: (
        "Your friend's country (or yours) is not part of the program.",
        "Invite friends who live in a country where the program runs.",
    ),
    ReasonCode.REGION_MISMATCH: (
        "Your friend's location does not match their account region.",
        "Your friend should sign up from the country of their account, without a VPN.",
    ),
    ReasonCode.ACCOUNT_FLAGGED: (
        FLAGGED_MESSAGE,
        "If you think this is a mistake, ask support to look at it.",
    ),
    ReasonCode.REFERRER_INACTIVE: (
        "Your account could not take part in the program when your friend signed up "
        "(for example, your phone number was not verified yet).",
        "Verify your phone number in your profile so that future friends count.",
    ),
    ReasonCode.FIRST_ORDER_CANCELED: (
        "Your friend's first order was canceled before it was completed.",
        "Only a completed first order counts; a later order by the same friend does not.",
    ),
    ReasonCode.FIRST_ORDER_REFUNDED: (
        "Your friend's first order was refunded before it was completed.",
        "Only a completed first order counts; a later order by the same friend does not.",
    ),
    ReasonCode.SHARED_PAYMENT_METHOD: (
        "Your friend's first order was paid with a card that is also used on your account or your device.",
        "Friends need to pay with their own card.",
    ),
    ReasonCode.MONTHLY_LIMIT: (
        "You had already received the maximum number of referral coupons that month.",
        "Referrals above the monthly limit are counted but never credited later. Your limit resets every month.",
    ),
    ReasonCode.TECHNICAL_DELAY: (
        "Sorry — your coupon is taking longer than it should because of a problem on our side.",
        "Nothing is lost: the coupon is still owed to you and will be issued automatically.",
    ),
    ReasonCode.SHARED_IP_AND_AGENT: (
        "Your friend signed up from the same network and browser as you, so we check it by hand.",
        "Nothing to do: our team decides within about a day.",
    ),
    ReasonCode.SHARED_FINGERPRINT: (
        "Your friend signed up from a browser that looks exactly like one you use, so we check it by hand.",
        "Nothing to do: our team decides within about a day.",
    ),
    ReasonCode.COUNTRY_SIGNAL_MISMATCH: (
        "Your friend's location and phone number point to different countries, so we check it by hand.",
        "Nothing to do: our team decides within about a day.",
    ),
    ReasonCode.DISPOSABLE_EMAIL: (
        "Your friend signed up with a temporary e-mail address, so we check it by hand.",
        "Nothing to do: our team decides within about a day.",
    ),
    ReasonCode.REFERRER_BURST: (
        "Your friend's first order is completed, but more than 3 of your friends qualified within 24 hours, "
        "so we check this one by hand before the coupon is issued.",
        "Nothing to do: our team decides within about a day, and your coupon follows if it is approved.",
    ),
    ReasonCode.IP_BURST: (
        "Several accounts signed up from the same network on one day, so we check this one by hand.",
        "Nothing to do: our team decides within about a day.",
    ),
    ReasonCode.SHARED_IP: (
        "Your friend signed up from the same network as you. That alone changes nothing.",
        "Nothing to do.",
    ),
    ReasonCode.STAFF_APPROVED: (
        "Our team checked this referral and approved it.",
        "Nothing to do: it continues as usual.",
    ),
    ReasonCode.STAFF_REJECTED: (
        "Our team checked this referral and decided it does not meet the program rules.",
        "If you think this is wrong, ask support to look at it again.",
    ),
    ReasonCode.MANUAL_CREDIT: (
        "Our support team credited this referral by hand.",
        "Find your coupon in My Coupons.",
    ),
    ReasonCode.REWARD_REVERSED: (
        "Your friend's first order was canceled or refunded before it completed, so the coupon was taken back.",
        "Only a completed first order counts.",
    ),
}


# DEVICE_LIMIT on the referrer's side: the referrer would be the 5th account in the program on one device.
REFERRER_DEVICE_LIMIT_TEXT = (
    "One of the devices you use already has 4 other accounts taking part in the program, "
    "so your account cannot join the program from it.",
    "Invite friends from an account that already takes part, or ask support if you think this is wrong.",
)


def _referrer_device_limit(referral) -> bool:
    """Whether a DEVICE_LIMIT rejection was on the referrer's side: the Invite Friends cards annotate the stored
    check (`referrer_device_limit`, JSON text); elsewhere it is read from the referral's signals."""
    annotated = getattr(referral, "referrer_device_limit", None)
    if annotated is not None:
        return str(annotated).lower() in ("true", "1")
    if hasattr(referral, "_meta") and "signals" in referral.get_deferred_fields():
        return False  # never load the whole signals JSON for one sentence
    checks = (getattr(referral, "signals", None) or {}).get("checks") or {}
    return bool(checks.get("referrer_device_limit"))


def ordinal(n: int) -> str:
    """1 → 1st, 2 → 2nd, 11 → 11th, 22 → 22nd."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _reason(code: str) -> tuple[str, str]:
    return REASON_TEXT.get(code, ("", ""))


def explain(referral, *, now: datetime) -> Explanation:
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
            "Your friend signed up through your link. No order yet." + note,
            "Remind your friend that their welcome coupons are waiting for their first order.",
            "info",
        )
    if state == ReferralState.ORDER_PLACED:
        return Explanation(
            state,
            code,
            "Your friend placed their first order. It counts once the order is completed (delivered and final)." + note,
            "Nothing to do: your coupon follows automatically when the order completes.",
            "info",
        )
    if state == ReferralState.QUALIFIED:
        late_by = (now - referral.completed_at) if referral.completed_at else timedelta(0)
        if late_by >= DELAY_AFTER or code == ReasonCode.TECHNICAL_DELAY:
            why, what_next = _reason(ReasonCode.TECHNICAL_DELAY)
            if late_by >= SUPPORT_AFTER:
                return Explanation(
                    state,
                    ReasonCode.TECHNICAL_DELAY,
                    why,
                    "It has been more than 48 hours: ask support and we will credit it by hand. "
                    "Everything support needs is attached for you.",
                    "warning",
                    is_delayed=True,
                    support_kind=SUPPORT_NOT_CREDITED,
                    support_label="Ask support about this coupon",
                )
            return Explanation(
                state,
                ReasonCode.TECHNICAL_DELAY,
                why,
                what_next + " If it is still missing 48 hours after the order completed, you can ask support here.",
                "warning",
                is_delayed=True,
            )
        return Explanation(
            state,
            code,
            "Your friend's first order is completed. Your coupon is on its way.",
            "Nothing to do: it usually arrives within minutes, always within 24 hours.",
            "success",
        )
    if state == ReferralState.CREDITED:
        if code == ReasonCode.MANUAL_CREDIT:
            return Explanation(state, code, why, what_next, "success")
        return Explanation(
            state,
            code,
            "Your friend's first order is completed and your coupon was issued.",
            "Find it in My Coupons and use it before it expires.",
            "success",
        )
    if state == ReferralState.CAPPED:
        month_ordinal = getattr(referral, "month_ordinal", None)
        counted = f"Counted, not credited: your {ordinal(month_ordinal)} this month." if month_ordinal else ""
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
            why, what_next = REFERRER_DEVICE_LIMIT_TEXT
        if not why:
            why, what_next = (
                "This referral does not meet the program rules.",
                "If you think this is wrong, ask support to look at it.",
            )
        return Explanation(
            state,
            code,
            why,
            what_next,
            "danger",
            support_kind=SUPPORT_DISPUTE,
            support_label="I think this is wrong",
        )
    if state == ReferralState.UNDER_REVIEW:
        if not why or code in (ReasonCode.STAFF_APPROVED, ReasonCode.SHARED_IP):
            why, what_next = _reason(ReasonCode.SHARED_IP_AND_AGENT)
            why = "We are checking this referral by hand, as we do for a few sign-ups."
        return Explanation(state, code, why, what_next, "warning")
    # A state this module does not know yet: say so instead of guessing.
    return Explanation(state, code, why or "We are processing this referral.", what_next or "Nothing to do.", "info")


# --- What the friend reads right after signing up through a link (PROGRAM_RULES.md section 2) ---
#
# The referrer's texts above say more than a friend may learn: the friend never reads the fraud
# signal that decided (same device, card, e-mail...) nor anything about the referrer.

# Signals that reveal how we link accounts share one neutral sentence.
_NEW_MEMBERS_ONLY = "invitations are only for people who are new to the marketplace"

FRIEND_REJECTED_WORDS: dict[str, str] = {
    ReasonCode.REGION_MISMATCH: "your location does not match your account region",
    ReasonCode.REGION_RESTRICTED: "the Invite Friends program is not available in your country",
    ReasonCode.ALREADY_REGISTERED: _NEW_MEMBERS_ONLY,
    ReasonCode.SELF_REFERRAL: _NEW_MEMBERS_ONLY,
    ReasonCode.DEVICE_LIMIT: _NEW_MEMBERS_ONLY,
    # The referrer's own status (suspended, phone not verified) is theirs: say only that the link is off.
    ReasonCode.REFERRER_INACTIVE: "this invitation is not active",
}
# A rejection for a reason the friend cannot act on, or one this table does not know yet.
_FRIEND_REJECTED_DEFAULT = "this invitation does not meet the program rules"
# REGION_RESTRICTED when the friend's own country is in the program (the referrer's is not).
_FRIEND_INVITATION_NOT_VALID = "this invitation cannot be used in the program"

FRIEND_WELCOME_TEXT = "Your welcome coupons are here, ready for your first orders."
FRIEND_REVIEW_TEXT = (
    "Your welcome coupons are waiting for a quick check by our team; "
    "they appear in My Coupons as soon as it is done, usually within a day."
)


def friend_signup_notice(
    *, state: str, reason_code: str = "", friend_region_in_program: bool = True, friend_flagged: bool = False
) -> str:
    """The sentence shown to a friend just after signing up through a link; "" when there is nothing to say.

    A flagged account (friend's or referrer's, including a friend flagged by this very sign-up as part of
    a device ring) reads exactly FLAGGED_MESSAGE, nothing more (RELIABILITY.md section 5). Any other
    rejection says the invitation could not be applied (the welcome message already says the account is
    ready), with a reason that names neither the referrer nor the fraud signal.
    """
    if friend_flagged:
        return FLAGGED_MESSAGE
    if state == ReferralState.REGISTERED:
        return FRIEND_WELCOME_TEXT
    if state == ReferralState.UNDER_REVIEW:
        return FRIEND_REVIEW_TEXT
    if state != ReferralState.REJECTED:
        return ""
    if reason_code == ReasonCode.ACCOUNT_FLAGGED:
        return FLAGGED_MESSAGE
    if reason_code == ReasonCode.REGION_RESTRICTED and friend_region_in_program:
        why = _FRIEND_INVITATION_NOT_VALID
    else:
        why = FRIEND_REJECTED_WORDS.get(reason_code, _FRIEND_REJECTED_DEFAULT)
    return f"Your invitation could not be applied: {why}."
