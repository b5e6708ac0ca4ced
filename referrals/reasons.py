"""Reason codes, referral states and every word said about a reason, defined once (docs/program-rules.md
sections 2, 3, 6 and 9).

The same code reaches the member (in plain words), the staff screen and the logs. `REASON_WORDS` is the one
table of those words: the referrer's card (why, next step), the referrer's e-mails, the friend's notice; the
staff label is the code's choice label (`staff_label`). Pages, e-mails and staff screens all read it here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db import models
from django.utils.translation import gettext_lazy as _

from lib.i18n import lazy_format
from referrals.program import DEVICE_ACCOUNT_LIMIT, REFERRER_BURST_LIMIT, REFERRER_BURST_WINDOW, hours_text

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

FLAGGED_MESSAGE = _("For security reasons, your request cannot be processed.")


class ReferralState(models.TextChoices):
    REGISTERED = "registered", _("Signed up")
    ORDER_PLACED = "order_placed", _("First order placed")
    QUALIFIED = "qualified", _("Qualified")
    CREDITED = "credited", _("Credited")
    CAPPED = "capped", _("Counted, not credited")
    VOIDED = "voided", _("Voided")
    REJECTED = "rejected", _("Not eligible")
    UNDER_REVIEW = "under_review", _("Under review")


TERMINAL_STATES = frozenset(
    {ReferralState.CREDITED, ReferralState.CAPPED, ReferralState.VOIDED, ReferralState.REJECTED}
)

# A friend's first order placed or completed, the coupon not issued yet: money "on the way" (Invite Friends'
# meter, `referrals.selectors.meter.on_the_way`; the partial index `referral_on_the_way_idx` holds these rows).
ON_THE_WAY_STATES = (ReferralState.ORDER_PLACED, ReferralState.QUALIFIED)


class ReasonCode(models.TextChoices):
    """The labels are the staff's words (admin filters, the timeline, the evidence of a support request)."""

    # Section 2: who counts as a new friend
    ALREADY_REGISTERED = "ALREADY_REGISTERED", _("Friend already has an account")
    SELF_REFERRAL = "SELF_REFERRAL", _("Friend is the referrer")
    DEVICE_LIMIT = "DEVICE_LIMIT", _("Too many accounts on this device")
    REGION_RESTRICTED = "REGION_RESTRICTED", _("Country not in the program")
    REGION_MISMATCH = "REGION_MISMATCH", _("Location does not match account region")
    ACCOUNT_FLAGGED = "ACCOUNT_FLAGGED", _("Account flagged")
    REFERRER_INACTIVE = "REFERRER_INACTIVE", _("Referrer not active")
    # Section 3: first order and reward
    FIRST_ORDER_CANCELED = "FIRST_ORDER_CANCELED", _("First order canceled")
    FIRST_ORDER_REFUNDED = "FIRST_ORDER_REFUNDED", _("First order refunded")
    SHARED_PAYMENT_METHOD = "SHARED_PAYMENT_METHOD", _("Payment card linked to the referrer")
    MONTHLY_LIMIT = "MONTHLY_LIMIT", _("Monthly limit reached")
    TECHNICAL_DELAY = "TECHNICAL_DELAY", _("Reward delayed (technical)")
    # Section 6: medium signals that send a referral to review
    SHARED_IP_AND_AGENT = "SHARED_IP_AND_AGENT", _("Same IP and browser as the referrer")
    SHARED_FINGERPRINT = "SHARED_FINGERPRINT", _("Same browser fingerprint as the referrer")
    COUNTRY_SIGNAL_MISMATCH = "COUNTRY_SIGNAL_MISMATCH", _("IP country differs from phone country")
    DISPOSABLE_EMAIL = "DISPOSABLE_EMAIL", _("Disposable e-mail domain")
    REFERRER_BURST = "REFERRER_BURST", _("Burst of qualified friends")
    IP_BURST = "IP_BURST", _("Burst of sign-ups from one IP")
    # Weak signal: recorded only
    SHARED_IP = "SHARED_IP", _("Same IP as the referrer")
    # Staff decisions
    STAFF_APPROVED = "STAFF_APPROVED", _("Approved by staff")
    STAFF_REJECTED = "STAFF_REJECTED", _("Rejected by staff")
    MANUAL_CREDIT = "MANUAL_CREDIT", _("Credited by staff")
    REWARD_REVERSED = "REWARD_REVERSED", _("Reward reversed")


@dataclass(frozen=True)
class ReasonWords:
    """What members read about one reason code ("" where that reader is told something generic)."""

    # The referrer's Invite Friends card: what happened, in one sentence ...
    why: StrOrPromise
    # ... and what the referrer can do now.
    next_step: StrOrPromise
    # The referrer's e-mail when a referral ends: "This referral … because {email}." ("" → the staff label).
    email: StrOrPromise = ""
    # The referrer's e-mail when a completed first order is held for staff: "Because {held}, …".
    held: StrOrPromise = ""
    # The friend's notice when their invitation is rejected: "…could not be applied: {friend}." The friend never
    # reads the fraud signal that decided nor anything about the referrer.
    friend: StrOrPromise = ""


# Signals that reveal how we link accounts share one neutral sentence for the friend.
_NEW_MEMBERS_ONLY = _("invitations are only for people who are new to the marketplace")
_STAFF_CHECK = _("Nothing to do: our team decides within about a day.")
# A medium signal a verified phone can answer (docs/program-rules.md section 2, second chance).
_PHONE_CHECK = _(
    "Nothing to do: the check ends as soon as your friend verifies a phone number from their account's country; "
    "otherwise our team decides within about a day."
)

REASON_WORDS: dict[str, ReasonWords] = {
    ReasonCode.ALREADY_REGISTERED: ReasonWords(
        why=_(
            "Your friend's e-mail, phone, device or card was already used by another account, "
            "so this is not a new member."
        ),
        next_step=_("Only people who have never shopped here count. Invite friends who are new to the marketplace."),
        email=_("your friend already had an account with us"),
        friend=_NEW_MEMBERS_ONLY,
    ),
    ReasonCode.SELF_REFERRAL: ReasonWords(
        why=_("This sign-up used your own device, phone, card or e-mail address, so it counts as inviting yourself."),
        next_step=_("Rewards are for inviting other people. Share your link with friends on their own devices."),
        email=_("the new account looks like your own account"),
        friend=_NEW_MEMBERS_ONLY,
    ),
    ReasonCode.DEVICE_LIMIT: ReasonWords(
        why=lazy_format(
            _("Your friend's device already has %(limit)s accounts taking part in the program."),
            {"limit": DEVICE_ACCOUNT_LIMIT},
        ),
        next_step=_("Friends need to sign up on their own phone or computer to count."),
        email=_("too many accounts already use your friend's device"),
        friend=_NEW_MEMBERS_ONLY,
    ),
    ReasonCode.REGION_RESTRICTED: ReasonWords(
        why=_("Your friend's country (or yours) is not part of the program."),
        next_step=_("Invite friends who live in a country where the program runs."),
        email=_("the program is not available in that country"),
        friend=_("the Invite Friends program is not available in your country"),
    ),
    ReasonCode.REGION_MISMATCH: ReasonWords(
        why=_("Your friend's location does not match their account region, so we check it."),
        next_step=_PHONE_CHECK,
        email=_("your friend's location does not match their account region"),
        friend=_("your location does not match your account region"),
    ),
    # A flag is never named to anyone (docs/program-rules.md G5): every reader gets FLAGGED_MESSAGE.
    ReasonCode.ACCOUNT_FLAGGED: ReasonWords(
        why=FLAGGED_MESSAGE,
        next_step=_("If you think this is a mistake, ask support to look at it."),
        email=FLAGGED_MESSAGE,
    ),
    ReasonCode.REFERRER_INACTIVE: ReasonWords(
        why=_(
            "Your account could not take part in the program when your friend signed up "
            "(for example, your phone number was not verified yet)."
        ),
        next_step=_("Verify your phone number in your profile so that future friends count."),
        email=_("your account is not active in the program (verify your phone number)"),
        # The referrer's own status (suspended, phone not verified) is theirs: say only that the link is off.
        friend=_("this invitation is not active"),
    ),
    ReasonCode.FIRST_ORDER_CANCELED: ReasonWords(
        why=_("Your friend's first order was canceled before it was completed."),
        next_step=_("Only a completed first order counts; a later order by the same friend does not."),
        email=_("your friend's first order was canceled before it was completed"),
    ),
    ReasonCode.FIRST_ORDER_REFUNDED: ReasonWords(
        why=_("Your friend's first order was refunded before it was completed."),
        next_step=_("Only a completed first order counts; a later order by the same friend does not."),
        email=_("your friend's first order was refunded before it was completed"),
    ),
    ReasonCode.SHARED_PAYMENT_METHOD: ReasonWords(
        why=_("Your friend's first order was paid with a card that is also used on your account or your device."),
        next_step=_("Friends need to pay with their own card."),
        email=_("the first order was paid with a card already used on your account or device"),
    ),
    ReasonCode.MONTHLY_LIMIT: ReasonWords(
        why=_("You had already received the maximum number of referral coupons that month."),
        next_step=_(
            "Referrals above the monthly limit are counted but never credited later. Your limit resets every month."
        ),
        email=_("you already received this month's maximum of referral coupons"),
    ),
    ReasonCode.TECHNICAL_DELAY: ReasonWords(
        why=_("Sorry — your coupon is taking longer than it should because of a problem on our side."),
        next_step=_("Nothing is lost: the coupon is still owed to you and will be issued automatically."),
    ),
    ReasonCode.SHARED_IP_AND_AGENT: ReasonWords(
        why=_("Your friend signed up from the same network and browser as you, so we check it."),
        next_step=_PHONE_CHECK,
    ),
    ReasonCode.SHARED_FINGERPRINT: ReasonWords(
        why=_("Your friend signed up from a browser that looks exactly like one you use, so we check it by hand."),
        next_step=_STAFF_CHECK,
    ),
    ReasonCode.COUNTRY_SIGNAL_MISMATCH: ReasonWords(
        why=_("Your friend's location and phone number point to different countries, so we check it by hand."),
        next_step=_STAFF_CHECK,
    ),
    ReasonCode.DISPOSABLE_EMAIL: ReasonWords(
        why=_("Your friend signed up with a temporary e-mail address, so we check it by hand."),
        next_step=_STAFF_CHECK,
    ),
    ReasonCode.REFERRER_BURST: ReasonWords(
        why=lazy_format(
            _(
                "Your friend's first order is completed, but more than %(limit)s of your friends qualified "
                "within %(hours)s, so we check this one by hand before the coupon is issued."
            ),
            {"limit": REFERRER_BURST_LIMIT, "hours": hours_text(REFERRER_BURST_WINDOW)},
        ),
        next_step=_("Nothing to do: our team decides within about a day, and your coupon follows if it is approved."),
        held=lazy_format(
            _("several of your friends completed their first order within %(hours)s"),
            {"hours": hours_text(REFERRER_BURST_WINDOW)},
        ),
    ),
    ReasonCode.IP_BURST: ReasonWords(
        why=_("Several accounts signed up from the same network on one day, so we check this one by hand."),
        next_step=_STAFF_CHECK,
    ),
    ReasonCode.SHARED_IP: ReasonWords(
        why=_("Your friend signed up from the same network as you. That alone changes nothing."),
        next_step=_("Nothing to do."),
    ),
    ReasonCode.STAFF_APPROVED: ReasonWords(
        why=_("Our team checked this referral and approved it."),
        next_step=_("Nothing to do: it continues as usual."),
    ),
    ReasonCode.STAFF_REJECTED: ReasonWords(
        why=_("Our team checked this referral and decided it does not meet the program rules."),
        next_step=_("If you think this is wrong, ask support to look at it again."),
        email=_("our team reviewed it and it does not meet the program rules"),
    ),
    ReasonCode.MANUAL_CREDIT: ReasonWords(
        why=_("Our support team credited this referral by hand."),
        next_step=_("Find your coupon in My Coupons."),
    ),
    ReasonCode.REWARD_REVERSED: ReasonWords(
        why=_("Your friend's first order was canceled or refunded before it completed, so the coupon was taken back."),
        next_step=_("Only a completed first order counts."),
        email=_("your friend's first order was canceled or refunded, so the reward was reversed"),
    ),
}

# DEVICE_LIMIT on the referrer's side: the referrer would be one account too many in the program on one device.
REFERRER_DEVICE_LIMIT_WORDS = ReasonWords(
    why=lazy_format(
        _(
            "One of the devices you use already has %(limit)s other accounts taking part in the program, "
            "so your account cannot join the program from it."
        ),
        {"limit": DEVICE_ACCOUNT_LIMIT},
    ),
    next_step=_("Invite friends from an account that already takes part, or ask support if you think this is wrong."),
)
# A rejection whose code has no words of its own (the referrer's card).
REJECTED_WORDS = ReasonWords(
    why=_("This referral does not meet the program rules."),
    next_step=_("If you think this is wrong, ask support to look at it."),
)
# The referrer's e-mail for a code this table does not know.
EMAIL_DEFAULT = _("it does not meet the program rules")
# The held-for-review e-mail for a signal without its own words.
HELD_DEFAULT = _("one of our checks asks for a second look")
# The friend's rejection for a reason the friend cannot act on, or one this table does not know yet.
FRIEND_REJECTED_DEFAULT = _("this invitation does not meet the program rules")
# REGION_RESTRICTED when the friend's own country is in the program (the referrer's is not).
FRIEND_INVITATION_NOT_VALID = _("this invitation cannot be used in the program")

_NO_WORDS = ReasonWords(why=_(""), next_step="")


def reason_words(code: str) -> ReasonWords:
    """The words of one reason code; empty words for "" or a code this table does not know."""
    return REASON_WORDS.get(code, _NO_WORDS)


def staff_label(code: str) -> str:
    """The staff's words for a code (its choice label); the raw value for a code the program does not know."""
    try:
        return str(ReasonCode(code).label)
    except ValueError:
        return str(code)


def email_words(code: str) -> StrOrPromise:
    """The reason a referrer reads in an e-mail (the clause after "because"); a flag is never named."""
    if code in REASON_WORDS:
        return REASON_WORDS[code].email or staff_label(code)
    return EMAIL_DEFAULT


def held_words(code: str) -> StrOrPromise:
    """Why a completed first order waits for staff, as the referrer's e-mail says it."""
    return reason_words(code).held or HELD_DEFAULT


def friend_words(code: str) -> StrOrPromise:
    """Why the friend's invitation was rejected, naming neither the referrer nor the fraud signal."""
    return reason_words(code).friend or FRIEND_REJECTED_DEFAULT
