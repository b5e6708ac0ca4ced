"""What the referral program tells the referrer, in plain words (inbox + e-mail via accounts.notify).

A friend is named the way Invite Friends names them (`referrals.selectors.cards.mask_name`), in the title and the
body alike, so the e-mail and the notification centre say the same.

The words of each reason code are those of `referrals.reasons.REASON_WORDS`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal

from django.urls import reverse

from accounts.locales import member_money_locale
from accounts.notify import notify
from coupons.models import Coupon
from lib.money import format_money
from referrals.models import Referral
from referrals.reasons import ReasonCode, email_words, held_words
from referrals.selectors.cards import mask_name
from referrals.selectors.friend import friend_signup_notice


def _friend_name(referral: Referral) -> str:
    """The friend as Invite Friends names them ("Jo** S."): notices and e-mails never carry more (section 9)."""
    friend = referral.friend
    if not (friend.first_name or friend.last_name):
        return "your friend"
    return mask_name(friend.first_name, friend.last_name)


def notify_credited(*, referral: Referral, coupon: Coupon) -> None:
    # The referrer's locale, not that of whoever's request (or task) completed the friend's order.
    locale = member_money_locale(referral.referrer)
    amount = format_money(coupon.value, coupon.currency, locale)
    minimum = format_money(coupon.min_spend, coupon.currency, locale)
    notify(
        member=referral.referrer,
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
    words = email_words(reason_code)
    body = words if reason_code == ReasonCode.ACCOUNT_FLAGGED else f"This referral {verb} because {words}."
    if extra:
        body = f"{body} {extra}"
    notify(
        member=referral.referrer,
        kind=kind,
        title=f"Your referral of {_friend_name(referral)} {verb}",
        body=body,
        link=reverse("referrals:invite"),
        dedupe_key=f"{kind}:{referral.pk}:{reason_code}",
    )


def notify_held_for_review(*, referral: Referral, reason_code: str) -> None:
    """A completed first order held for a human decision (a medium signal): say so, and that nothing is lost."""
    name = _friend_name(referral)
    why = held_words(reason_code)
    notify(
        member=referral.referrer,
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
        member=referral.referrer,
        kind="referral_monthly_limit",
        title=f"You reached this month's limit: {limit} of {limit} referral coupons",
        body=(
            f"You have received {limit} of {limit} referral coupons for {month:%B %Y}. Friends who complete "
            "their first order later this month still count, but earn no coupon. The limit resets on the 1st."
        ),
        link=reverse("referrals:invite"),
        dedupe_key=f"referral-monthly-limit:{referral.referrer_id}:{month:%Y-%m}",
    )


# --- What the friend is told when staff decide a review opened at sign-up (docs/program-rules.md sections 2 and 9) ---
#
# The friend never reads the signal that held the sign-up, the staff note or anything about the referrer:
# an approval says the coupons are ready, a rejection uses the friend's words (`ReasonWords.friend`).


def notify_friend_welcome_ready(*, referral: Referral, coupons: Iterable[Coupon]) -> None:
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
        member=referral.friend,
        kind="friend_welcome_ready",
        title="Your welcome coupons are ready",
        body=body,
        link=reverse("coupons:wallet"),
        dedupe_key=f"friend-welcome-ready:{referral.pk}",
    )


def notify_friend_not_applied(*, referral: Referral, reason_code: str) -> None:
    """The sign-up review ended without a welcome package: the friend's words for a rejected invitation, once."""
    # Worded as a rejection whatever ended it (a void at approval too): the friend reads one neutral reason.
    view = Referral(pk=referral.pk, friend=referral.friend, state="rejected", reason_code=reason_code)
    body = friend_signup_notice(referral=view)
    if reason_code != ReasonCode.ACCOUNT_FLAGGED:
        body = f"{body} Your account works as usual."
    notify(
        member=referral.friend,
        kind="friend_invitation_rejected",
        title="Your invitation could not be applied",
        body=body,
        link=reverse("coupons:wallet"),
        dedupe_key=f"friend-invitation-rejected:{referral.pk}",
    )
