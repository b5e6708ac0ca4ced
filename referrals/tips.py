"""Tips on the Invite Friends page, picked from the member's own funnel (PROGRAM_RULES.md section 9).

A pure function over the funnel and the month's progress: the same numbers give the same tips.
"""

from __future__ import annotations

from dataclasses import dataclass

# Personal messages convert best, then deal groups, then social posts and forums, then blogs.
PERSONAL_CHANNELS = ("whatsapp", "telegram", "email")
SOCIAL_CHANNELS = ("facebook", "x", "instagram")
MAX_TIPS = 3


@dataclass(frozen=True)
class Tip:
    key: str
    title: str
    text: str


def _rate(signups: int, clicks: int) -> float | None:
    return signups / clicks if clicks else None


def pick_tips(funnel, progress, *, welcome_total: str = "") -> list[Tip]:
    """At most MAX_TIPS tips, the ones backed by the member's numbers first."""
    by_channel = {r.channel: r for r in funnel.rows}
    total = funnel.total
    welcome = f" ({welcome_total} in coupons)" if welcome_total else ""
    tips: list[Tip] = []

    if progress.is_full:
        tips.append(
            Tip(
                "limit",
                "This month's coupons are all earned",
                f"Friends who qualify before {progress.resets_on.day} {progress.resets_on:%B} are counted "
                "but not credited. "
                "Invite more friends late in the month so their first orders complete after the reset.",
            )
        )

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
                    "Follow up on clicks",
                    f"{total.clicks_without_signup} link opens did not become a sign-up yet "
                    f"(most via {top.label}). A short reminder to the people you sent it to often helps.",
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
        tips.append(
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
    else:
        tips.append(
            Tip(
                "new-people",
                "Invite people who have never shopped here",
                "Only new members count, so think of friends who do not use the marketplace yet.",
            )
        )

    tips.append(
        Tip(
            "sales",
            "Share during big sale events",
            "Friends are most likely to place a first order when there is a big sale: that is the time to share.",
        )
    )
    return tips[:MAX_TIPS]
