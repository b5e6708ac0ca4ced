"""What the referral program tells the referrer, in plain words (inbox + e-mail via accounts.notify).

A friend is named the way Invite Friends names them (`referrals.selectors.cards.mask_name`), in the title and the
body alike, so the e-mail and the notification centre say the same.

The words of each reason code are those of `referrals.reasons.REASON_WORDS`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal

from django.urls import reverse

from accounts.locales import member_money_locale
from accounts.notify import Notice, notify, notify_many
from coupons.models import Coupon
from lib.money import format_money
from referrals.models import Referral
from referrals.reasons import ReasonCode, email_words, held_words
from referrals.selectors.cards import mask_name
from referrals.selectors.friend import friend_signup_notice


def masked_friend_name(first_name: str, last_name: str) -> str:
    """The friend as Invite Friends names them ("Jo** S."): notices and e-mails never carry more (section 9)."""
    if not (first_name or last_name):
        return "your friend"
    return mask_name(first_name, last_name)


def _friend_name(referral: Referral) -> str:
    return masked_friend_name(referral.friend.first_name, referral.friend.last_name)


def credited_notice(
    *,
    referral_id: int,
    referrer_id: int,
    friend_name: str,
    value: Decimal,
    min_spend: Decimal,
    currency: str,
    expires_at: datetime,
    locale: str,
    link: str,
) -> Notice:
    """The 'you earned a coupon' notice; `locale` is the referrer's (`member_money_locale`), `link` My Coupons."""
    amount = format_money(value, currency, locale)
    minimum = format_money(min_spend, currency, locale)
    return Notice(
        member_id=referrer_id,
        kind="referral_credited",
        title=f"You earned a {amount} coupon",
        body=(
            f"{friend_name or 'your friend'} completed their first order, so we added a {amount} coupon "
            f"(minimum spend {minimum}) to My Coupons. It is valid until {expires_at:%d %B %Y}."
        ),
        link=link,
        dedupe_key=f"referral-credited:{referral_id}",
    )


def notify_credited(*, referral: Referral, coupon: Coupon) -> None:
    """Written with the credit; its e-mail is sent by a worker after commit (accounts.notify.notify_many)."""
    notice = credited_notice(
        referral_id=referral.pk,
        referrer_id=referral.referrer_id,
        friend_name=_friend_name(referral),
        value=coupon.value,
        min_spend=coupon.min_spend,
        currency=coupon.currency,
        expires_at=coupon.expires_at,
        # The referrer's locale, not that of whoever's request (or task) completed the friend's order.
        locale=member_money_locale(referral.referrer),
        link=reverse("coupons:wallet"),
    )
    notify_many([notice])


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


def limit_notice(*, referrer_id: int, month: date, limit: int, link: str) -> Notice:
    """Once per referrer and program month (its dedupe key); `link` is Invite Friends."""
    return Notice(
        member_id=referrer_id,
        kind="referral_monthly_limit",
        title=f"You reached this month's limit: {limit} of {limit} referral coupons",
        body=(
            f"You have received {limit} of {limit} referral coupons for {month:%B %Y}. Friends who complete "
            "their first order later this month still count, but earn no coupon. The limit resets on the 1st."
        ),
        link=link,
        dedupe_key=f"referral-monthly-limit:{referrer_id}:{month:%Y-%m}",
    )


def notify_limit_reached(*, referral: Referral, month: date, limit: int) -> None:
    """Once per referrer and program month; e-mailed by a worker after commit."""
    notify_many(
        [limit_notice(referrer_id=referral.referrer_id, month=month, limit=limit, link=reverse("referrals:invite"))]
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
