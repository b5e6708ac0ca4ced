"""What the referral program tells the referrer, in plain words (inbox + e-mail via accounts.notify)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.urls import reverse

from accounts.locales import member_money_locale
from accounts.notify import notify
from referral_portal.templatetags.money import format_money
from referrals.models import Referral
from referrals.reasons import FLAGGED_MESSAGE, ReasonCode

# The member-facing sentence for each reason that can end a referral.
REASON_WORDS: dict[str, str] = {
    ReasonCode.FIRST_ORDER_CANCELED: "your friend's first order was canceled before it was completed",
    ReasonCode.FIRST_ORDER_REFUNDED: "your friend's first order was refunded before it was completed",
    ReasonCode.SHARED_PAYMENT_METHOD: "the first order was paid with a card already used on your account or device",
    ReasonCode.MONTHLY_LIMIT: "you already received this month's maximum of referral coupons",
    ReasonCode.ALREADY_REGISTERED: "your friend already had an account with us",
    ReasonCode.SELF_REFERRAL: "the new account looks like your own account",
    ReasonCode.DEVICE_LIMIT: "too many accounts already use your friend's device",
    ReasonCode.REGION_RESTRICTED: "the program is not available in that country",
    ReasonCode.REGION_MISMATCH: "your friend's location does not match their account region",
    ReasonCode.REFERRER_INACTIVE: "your account is not active in the program (verify your phone number)",
    ReasonCode.STAFF_REJECTED: "our team reviewed it and it does not meet the program rules",
    ReasonCode.REWARD_REVERSED: "your friend's first order was canceled or refunded, so the reward was reversed",
}


def reason_in_words(reason_code: str) -> str:
    """The reason a member may read; a flag is never named (RELIABILITY.md section 5)."""
    if reason_code == ReasonCode.ACCOUNT_FLAGGED:
        return FLAGGED_MESSAGE
    if reason_code in REASON_WORDS:
        return REASON_WORDS[reason_code]
    try:
        return ReasonCode(reason_code).label
    except ValueError:
        return "it does not meet the program rules"


def _friend_name(referral: Referral) -> str:
    return referral.friend.first_name or "your friend"


def notify_credited(*, referral: Referral, coupon) -> None:
    # The referrer's locale, not that of whoever's request (or task) completed the friend's order.
    locale = member_money_locale(referral.referrer)
    amount = format_money(coupon.value, coupon.currency, locale)
    minimum = format_money(coupon.min_spend, coupon.currency, locale)
    notify(
        user=referral.referrer,
        kind="referral_credited",
        title=f"You earned a {amount} coupon",
        body=(
            f"{_friend_name(referral)} completed their first order, so we added a {amount} coupon "
            f"(minimum spend {minimum}) to My Coupons. It is valid until {coupon.expires_at:%d %B %Y}."
        ),
        link=reverse("coupons:wallet"),
        dedupe_key=f"referral-credited:{referral.pk}",
    )


def notify_ended(*, referral: Referral, reason_code: str, extra: str = "") -> None:
    """Voided or rejected: tell the referrer why, in plain words."""
    kind = "referral_rejected" if referral.state == "rejected" else "referral_voided"
    verb = "was not accepted" if kind == "referral_rejected" else "will not earn a reward"
    words = reason_in_words(reason_code)
    body = words if reason_code == ReasonCode.ACCOUNT_FLAGGED else f"This referral {verb} because {words}."
    if extra:
        body = f"{body} {extra}"
    notify(
        user=referral.referrer,
        kind=kind,
        title=f"Your referral of {_friend_name(referral)} {verb}",
        body=body,
        link=reverse("referrals:invite"),
        dedupe_key=f"{kind}:{referral.pk}:{reason_code}",
    )


def notify_held_for_review(*, referral: Referral, reason_code: str) -> None:
    """A completed first order held for a human decision (a medium signal): say so, and that nothing is lost."""
    name = _friend_name(referral)
    why = {
        ReasonCode.REFERRER_BURST: "several of your friends completed their first order within 24 hours",
    }.get(reason_code, "one of our checks asks for a second look")
    notify(
        user=referral.referrer,
        kind="referral_review",
        title=f"We are checking your referral of {name}",
        body=(
            f"{name} completed their first order. Because {why}, our team checks this referral by hand, "
            "usually within a day. If it is approved, your coupon follows automatically; nothing to do on your side."
        ),
        link=reverse("referrals:invite"),
        dedupe_key=f"referral-review:{referral.pk}:{reason_code}",
    )


def notify_limit_reached(*, referral: Referral, month: date, limit: int) -> None:
    """Once per referrer and program month."""
    notify(
        user=referral.referrer,
        kind="referral_monthly_limit",
        title=f"You reached this month's limit: {limit} of {limit} referral coupons",
        body=(
            f"You have received {limit} of {limit} referral coupons for {month:%B %Y}. Friends who complete "
            "their first order later this month still count, but earn no coupon. The limit resets on the 1st."
        ),
        link=reverse("referrals:invite"),
        dedupe_key=f"referral-monthly-limit:{referral.referrer_id}:{month:%Y-%m}",
    )


# --- What the friend is told when staff decide a review opened at sign-up (PROGRAM_RULES.md sections 2 and 9) ---
#
# The friend never reads the signal that held the sign-up, the staff note or anything about the referrer:
# an approval says the coupons are ready, a rejection uses the friend's words of `referrals.explain`.


def notify_friend_welcome_ready(*, referral: Referral, coupons) -> None:
    """The sign-up review was approved and the welcome package issued: once per referral."""
    coupons = list(coupons)
    if coupons:
        total = format_money(sum((c.value for c in coupons), Decimal("0")), coupons[0].currency)
        what = (
            f"{len(coupons)} welcome coupons worth {total} in total are"
            if len(coupons) > 1
            else (f"your welcome coupon worth {total} is")
        )
        body = f"Our team finished the check: {what} in My Coupons, ready for your first orders."
    else:
        body = "Our team finished the check on your invitation. See My Coupons for what is ready for you."
    notify(
        user=referral.friend,
        kind="friend_welcome_ready",
        title="Your welcome coupons are ready",
        body=body,
        link=reverse("coupons:wallet"),
        dedupe_key=f"friend-welcome-ready:{referral.pk}",
    )


def notify_friend_not_applied(*, referral: Referral, reason_code: str) -> None:
    """The sign-up review ended without a welcome package: the friend's words for a rejected invitation, once."""
    from referrals.selectors import friend_signup_notice

    # Worded as a rejection whatever ended it (a void at approval too): the friend reads one neutral reason.
    view = Referral(pk=referral.pk, friend=referral.friend, state="rejected", reason_code=reason_code)
    body = friend_signup_notice(referral=view)
    if reason_code != ReasonCode.ACCOUNT_FLAGGED:
        body = f"{body} Your account works as usual."
    notify(
        user=referral.friend,
        kind="friend_invitation_rejected",
        title="Your invitation could not be applied",
        body=body,
        link=reverse("coupons:wallet"),
        dedupe_key=f"friend-invitation-rejected:{referral.pk}",
    )
