"""Every count Invite Friends shows over a member's referrals, in one pass: the tab counts, the funnel's
referral half (per channel) and the number of friends whose coupon is on the way.

The same counts as `cards.tab_counts`, `funnel.channel_funnel` and `meter.on_the_way` make on their own (one
definition each, imported from there); the page reads them from this one grouped query, compiled to SQL once
per process (`lib.sqlonce`).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Q, QuerySet

from accounts.models import User
from lib import sqlonce
from referrals.models import Referral
from referrals.selectors.cards import TABS
from referrals.selectors.funnel import REFERRAL_COUNTS, ChannelCounts
from referrals.selectors.meter import ON_THE_WAY_STATES


@dataclass(frozen=True)
class ReferralTallies:
    tabs: dict[str, int]  # what `cards.tab_counts` returns
    channels: list[ChannelCounts]  # what `funnel.channel_funnel` reads from the referrals
    on_the_way: int  # the member's referrals in `meter.ON_THE_WAY_STATES`


def _tab_key(key: str) -> str:
    return f"tab_{key}"


def _by_channel(member_id: int) -> QuerySet:
    tabs = {
        _tab_key(key): Count("id", filter=Q(state__in=states)) if states else Count("id")
        for key, (_label, states) in TABS.items()
    }
    return (
        Referral.objects.filter(referrer_id=member_id)
        .values("channel")
        .annotate(**REFERRAL_COUNTS, **tabs, on_the_way=Count("id", filter=Q(state__in=ON_THE_WAY_STATES)))
        .order_by()
        .values_list("channel", *REFERRAL_COUNTS, *tabs, "on_the_way")
    )


def referral_tallies(*, member: User) -> ReferralTallies:
    """The tab counts, the per-channel funnel counts and the friends on the way: one query."""
    rows = sqlonce.rows(_by_channel, member.pk)
    tabs = dict.fromkeys(TABS, 0)
    channels = []
    on_the_way = 0
    n_funnel = len(REFERRAL_COUNTS)
    for row in rows:
        channels.append(ChannelCounts(row[0], *row[1 : 1 + n_funnel]))
        for key, n in zip(TABS, row[1 + n_funnel : 1 + n_funnel + len(TABS)], strict=True):
            tabs[key] += n
        on_the_way += row[-1]
    return ReferralTallies(tabs=tabs, channels=channels, on_the_way=on_the_way)
