"""Tips on the Invite Friends page, picked from the member's own funnel (docs/program-rules.md section 9).

A pure function over the funnel, the month's progress and the sale event on now (or soon), if any:
the same inputs give the same tips. At most MAX_TIPS are shown, in this order of priority:

1. time-critical: this month's coupons are all earned; a big sale event is on or starts within
   days (the best moment to share passes with it, so it comes before advice that keeps);
2. backed by the member's own numbers: start with a personal message (nothing shared yet), personal
   messages work best / try one, follow up on clicks, friends waiting with their welcome package,
   sign-ups that already had an account;
3. general advice, in the order the rules list it: mention the welcome package (once shared),
   share during big sale events, invite people who have never shopped here.
A tip appears once: the sale tip is the timely one when an event applies, else the general one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

if TYPE_CHECKING:  # types only: the tips stay a pure function over plain values
    from referrals.selectors.funnel import Funnel
    from referrals.selectors.meter import MonthlyProgress

# Personal messages convert best, then deal groups, then social posts and forums, then blogs.
PERSONAL_CHANNELS = ("whatsapp", "telegram", "email")
SOCIAL_CHANNELS = ("facebook", "x", "instagram")
MAX_TIPS = 3
# An event starting within this long is worth sharing for now: friends sign up before it, order during it.
SALE_LOOKAHEAD = timedelta(days=7)


@dataclass(frozen=True)
class Tip:
    key: str
    title: str
    text: str


@dataclass(frozen=True)
class SaleEvent:
    """A big sale event as the tips see it (coupons.selectors.sale_event_to_share)."""

    name: str
    starts_at: datetime
    ends_at: datetime | None = None


def _day(value: datetime) -> str:
    local = timezone.localtime(value)
    return f"{local.day} {local:%B}"


def _sale_tip(sale: SaleEvent, *, now: datetime) -> Tip:
    if sale.starts_at > now:
        return Tip(
            "sales",
            f"Share before {sale.name}",
            f"{sale.name} starts on {_day(sale.starts_at)}. Friends are most likely to place a first order "
            "during a big sale: share your link now so they have signed up, with their welcome coupons, "
            "when it begins.",
        )
    # ends_at is the first moment after the event: its last day is the day before that moment.
    until = f" until {_day(sale.ends_at - timedelta(microseconds=1))}" if sale.ends_at else ""
    return Tip(
        "sales",
        f"{sale.name} is on: share now",
        f"{sale.name} runs{until}. Friends are most likely to place a first order during a big sale: "
        "this is the time to share your link.",
    )


GENERAL_SALE_TIP = Tip(
    "sales",
    "Share during big sale events",
    "Friends are most likely to place a first order when there is a big sale: that is the time to share.",
)


def _rate(signups: int, clicks: int) -> float | None:
    return signups / clicks if clicks else None


def pick_tips(
    funnel: Funnel,
    progress: MonthlyProgress,
    *,
    welcome_total: str = "",
    sale: SaleEvent | None = None,
    now: datetime | None = None,
) -> list[Tip]:
    """At most MAX_TIPS tips: time-critical first, then the ones backed by the member's numbers, then general
    advice (module docstring). `sale` is the big sale event on now or starting within SALE_LOOKAHEAD, if any."""
    now = now or timezone.now()
    by_channel = {r.channel: r for r in funnel.rows}
    total = funnel.total
    welcome = f" ({welcome_total} in coupons)" if welcome_total else ""
    urgent: list[Tip] = []
    tips: list[Tip] = []  # backed by the member's numbers
    general: list[Tip] = []

    if progress.is_full:
        urgent.append(
            Tip(
                "limit",
                "This month's coupons are all earned",
                f"Friends who qualify before {progress.resets_on.day} {progress.resets_on:%B} are counted "
                "but not credited. "
                "Invite more friends late in the month so their first orders complete after the reset.",
            )
        )
    sale_applies = (
        sale is not None and sale.starts_at <= now + SALE_LOOKAHEAD and (sale.ends_at is None or sale.ends_at > now)
    )
    if sale is not None and sale_applies:
        urgent.append(_sale_tip(sale, now=now))

    if total.clicks == 0:
        tips.append(
            Tip(
                "start",
                "Start with a personal message",
                "Links sent one-to-one on WhatsApp, Telegram or e-mail convert best; deal groups come next, "
                "then social posts and forums, then blogs.",
            )
        )
    else:
        personal = [by_channel[c] for c in PERSONAL_CHANNELS if c in by_channel]
        social = [by_channel[c] for c in SOCIAL_CHANNELS if c in by_channel]
        p_rate = _rate(sum(r.signups for r in personal), sum(r.clicks for r in personal))
        s_rate = _rate(sum(r.signups for r in social), sum(r.clicks for r in social))
        if p_rate is not None and s_rate is not None and p_rate > s_rate:
            tips.append(
                Tip(
                    "personal",
                    "Your personal messages work best",
                    f"{p_rate:.0%} of the people who opened a link you sent personally signed up, "
                    f"against {s_rate:.0%} from social posts. Keep writing to friends one-to-one.",
                )
            )
        elif s_rate is not None and p_rate is None:
            tips.append(
                Tip(
                    "personal",
                    "Try a personal message",
                    f"So far you shared on social networks ({s_rate:.0%} of clicks signed up). "
                    "A personal WhatsApp, Telegram or e-mail message usually converts better, "
                    "then deal groups, then posts and forums.",
                )
            )
        if total.clicks_without_signup:
            top = max(funnel.rows, key=lambda r: r.clicks_without_signup)
            tips.append(
                Tip(
                    "follow-up",
                    _("Follow up on clicks"),
                    ngettext(
                        "%(count)d link open did not become a sign-up yet (most via %(channel)s). "
                        "A short reminder to the people you sent it to often helps.",
                        "%(count)d link opens did not become a sign-up yet (most via %(channel)s). "
                        "A short reminder to the people you sent it to often helps.",
                        total.clicks_without_signup,
                    )
                    % {"count": total.clicks_without_signup, "channel": top.label},
                )
            )

    # Only friends who actually hold the welcome coupons (not those rejected or under review).
    waiting = total.awaiting_first_order
    if waiting > 0:
        tips.append(
            Tip(
                "welcome",
                "Tell friends about their welcome package",
                f"{waiting} friend{'s' if waiting != 1 else ''} signed up but did not order yet. "
                f"Remind them that their welcome coupons{welcome} are waiting for their first order.",
            )
        )
    elif total.clicks:
        general.append(
            Tip(
                "welcome",
                "Mention the welcome package",
                f"Friends who sign up through your link get welcome coupons{welcome}. Say so in your message.",
            )
        )

    if funnel.rejected_already_registered:
        tips.append(
            Tip(
                "new-people",
                "Invite people who have never shopped here",
                f"{funnel.rejected_already_registered} of your sign-ups already had an account and could not count. "
                "Only new members count.",
            )
        )
    if not sale_applies:
        general.append(GENERAL_SALE_TIP)
    if not funnel.rejected_already_registered:
        general.append(
            Tip(
                "new-people",
                "Invite people who have never shopped here",
                "Only new members count, so think of friends who do not use the marketplace yet.",
            )
        )
    return (urgent + tips + general)[:MAX_TIPS]
