"""What the referral program tells the referrer, in plain words (inbox + e-mail via accounts.notify).

A friend is named the way Invite Friends names them (`referrals.selectors.cards.mask_name`), in the title and the
body alike, so the e-mail and the notification centre say the same.

The words of each reason code are those of `referrals.reasons.REASON_WORDS`. Every notice is written in its
reader's language, money locale and time zone (`accounts.locales.as_member`), whoever triggered it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts.locales import as_member, member_language, member_money_locale
from accounts.models import User
from accounts.notify import Notice, notify, notify_many
from coupons.models import Coupon
from lib.i18n import local_date, month_year
from lib.money import format_money
from referrals.models import Referral
from referrals.reasons import ReasonCode, email_words, held_words
from referrals.selectors.cards import mask_name
from referrals.selectors.friend import friend_signup_notice


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def masked_friend_name(first_name: str, last_name: str) -> str:
    """The friend as Invite Friends names them ("Jo** S."): notices and e-mails never carry more (section 9)."""
    if not (first_name or last_name):
        return str(_("your friend"))
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
    language: str = "",
    time_zone: str = "UTC",
) -> Notice:
    """The 'you earned a coupon' notice in the referrer's `language` and `time_zone`; `locale` is their money locale
    (`member_money_locale`), `link` My Coupons."""
    title, body, words = _credited_words(language, time_zone, locale, value, min_spend, currency, expires_at)
    return Notice(
        member_id=referrer_id,
        kind="referral_credited",
        title=title,
        body=body % {**words, "friend": friend_name or words["friend"]},
        link=link,
        dedupe_key=f"referral-credited:{referral_id}",
    )


@lru_cache(maxsize=256)
def _credited_words(
    language: str, time_zone: str, locale: str, value: Decimal, min_spend: Decimal, currency: str, expires_at: datetime
) -> tuple[str, str, dict[str, str]]:
    """The credited notice's title, its translated body (with %(friend)s still to fill) and the body's other words,
    once per language, amounts and expiry: a sweep batch credits hundreds on the same terms at the same instant,
    and switching language and time zone and formatting the money and the date cost more than the rest of a row."""
    with translation.override(language or settings.LANGUAGE_CODE), timezone.override(_zone(time_zone)):
        amount = format_money(value, currency, locale)
        minimum = format_money(min_spend, currency, locale)
        title = _("You earned a %(amount)s coupon") % {"amount": amount}
        body = _(
            "%(friend)s completed their first order, so we added a %(amount)s coupon (minimum spend %(minimum)s) "
            "to My Coupons. It is valid until %(date)s."
        )
        words = {"friend": str(_("your friend")), "amount": amount, "minimum": minimum, "date": local_date(expires_at)}
    return title, str(body), words


def notify_credited(*, referral: Referral, coupon: Coupon) -> None:
    """Written with the credit; its e-mail is sent by a worker after commit (accounts.notify.notify_many)."""
    notice = credited_notice(
        referral_id=referral.pk,
        referrer_id=referral.referrer_id,
        friend_name=referral.friend.first_name,
        value=coupon.value,
        min_spend=coupon.min_spend,
        currency=coupon.currency,
        expires_at=coupon.expires_at,
        # The referrer's language, locale and time zone, not those of whoever's request (or task) completed the
        # friend's order.
        locale=member_money_locale(referral.referrer),
        link=reverse("coupons:wallet"),
        language=member_language(referral.referrer),
        time_zone=referral.referrer.time_zone,
    )
    notify_many([notice])


def notify_ended(*, referral: Referral, reason_code: str, extra: str = "") -> None:
    """Voided or rejected: tell the referrer why, in plain words."""
    kind = "referral_rejected" if referral.state == "rejected" else "referral_voided"
    with as_member(referral.referrer):
        name = _friend_name(referral)
        words = str(email_words(reason_code))
        if kind == "referral_rejected":
            title = _("Your referral of %(friend)s was not accepted") % {"friend": name}
            because = _("This referral was not accepted because %(reason)s.")
        else:
            title = _("Your referral of %(friend)s will not earn a reward") % {"friend": name}
            because = _("This referral will not earn a reward because %(reason)s.")
        body = words if reason_code == ReasonCode.ACCOUNT_FLAGGED else because % {"reason": words}
        if extra:
            body = f"{body} {extra}"
    notify(
        member=referral.referrer,
        kind=kind,
        title=title,
        body=body,
        link=reverse("referrals:invite"),
        dedupe_key=f"{kind}:{referral.pk}:{reason_code}",
    )


def notify_held_for_review(*, referral: Referral, reason_code: str) -> None:
    """A completed first order held for a human decision (a medium signal): say so, and that nothing is lost."""
    with as_member(referral.referrer):
        name = _friend_name(referral)
        title = _("We are checking your referral of %(friend)s") % {"friend": name}
        body = _(
            "%(friend)s completed their first order. Because %(reason)s, our team checks this referral by hand, "
            "usually within a day. If it is approved, your coupon follows automatically; nothing to do on your side."
        ) % {"friend": name, "reason": held_words(reason_code)}
    notify(
        member=referral.referrer,
        kind="referral_review",
        title=title,
        body=body,
        link=reverse("referrals:invite"),
        dedupe_key=f"referral-review:{referral.pk}:{reason_code}",
    )


def limit_notice(*, referrer_id: int, month: date, limit: int, link: str, language: str = "") -> Notice:
    """Once per referrer and program month (its dedupe key), in the referrer's `language`; `link` is Invite Friends."""
    with translation.override(language or settings.LANGUAGE_CODE):
        title = _("You reached this month's limit: %(limit)s of %(limit)s referral coupons") % {"limit": limit}
        body = _(
            "You have received %(limit)s of %(limit)s referral coupons for %(month)s. Friends who complete "
            "their first order later this month still count, but earn no coupon. The limit resets on the 1st."
        ) % {"limit": limit, "month": month_year(month)}
    return Notice(
        member_id=referrer_id,
        kind="referral_monthly_limit",
        title=title,
        body=body,
        link=link,
        dedupe_key=f"referral-monthly-limit:{referrer_id}:{month:%Y-%m}",
    )


def notify_limit_reached(*, referral: Referral, month: date, limit: int) -> None:
    """Once per referrer and program month; e-mailed by a worker after commit."""
    notify_many(
        [
            limit_notice(
                referrer_id=referral.referrer_id,
                month=month,
                limit=limit,
                link=reverse("referrals:invite"),
                language=member_language(referral.referrer),
            )
        ]
    )


# --- What the friend is told when staff decide a review opened at sign-up (docs/program-rules.md sections 2 and 9) ---
#
# The friend never reads the signal that held the sign-up, the staff note or anything about the referrer:
# an approval says the coupons are ready, a rejection uses the friend's words (`ReasonWords.friend`).


def notify_friend_welcome_ready(*, referral: Referral, coupons: Iterable[Coupon]) -> None:
    """The sign-up review was approved and the welcome package issued: once per referral."""
    coupons = list(coupons)
    friend: User = referral.friend
    with as_member(friend):
        if coupons:
            total = format_money(sum((c.value for c in coupons), Decimal("0")), coupons[0].currency)
            body = ngettext(
                "Our team finished the check: your welcome coupon worth %(total)s is in My Coupons, "
                "ready for your first order.",
                "Our team finished the check: %(count)s welcome coupons worth %(total)s in total are in My Coupons, "
                "ready for your first orders.",
                len(coupons),
            ) % {"count": len(coupons), "total": total}
        else:
            body = _("Our team finished the check on your invitation. See My Coupons for what is ready for you.")
        title = _("Your welcome coupons are ready")
    notify(
        member=friend,
        kind="friend_welcome_ready",
        title=title,
        body=body,
        link=reverse("coupons:wallet"),
        dedupe_key=f"friend-welcome-ready:{referral.pk}",
    )


def notify_friend_not_applied(*, referral: Referral, reason_code: str) -> None:
    """The sign-up review ended without a welcome package: the friend's words for a rejected invitation, once."""
    # Worded as a rejection whatever ended it (a void at approval too): the friend reads one neutral reason.
    view = Referral(pk=referral.pk, friend=referral.friend, state="rejected", reason_code=reason_code)
    with as_member(referral.friend):
        body = friend_signup_notice(referral=view)
        if reason_code != ReasonCode.ACCOUNT_FLAGGED:
            body = f"{body} {_('Your account works as usual.')}"
        title = _("Your invitation could not be applied")
    notify(
        member=referral.friend,
        kind="friend_invitation_rejected",
        title=title,
        body=body,
        link=reverse("coupons:wallet"),
        dedupe_key=f"friend-invitation-rejected:{referral.pk}",
    )
