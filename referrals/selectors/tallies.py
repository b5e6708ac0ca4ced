"""Every count Invite Friends shows over a member's referrals, in one pass: the tab counts, the funnel's
referral half (per channel) and the number of friends whose coupon is on the way.

The same counts as `cards.tab_counts`, `funnel.channel_funnel` and `meter.on_the_way` make on their own (one
definition each, imported from there); the page reads them from this one grouped query over the referrer's kept
counts (`ReferralTally`, kept by database triggers), compiled to SQL once per process (`lib.sqlonce`).
"""

from __future__ import annotations

from dataclasses import dataclass

from accounts.models import User
from lib import sqlonce
from referrals.reasons import ON_THE_WAY_STATES
from referrals.selectors.cards import TABS
from referrals.selectors.funnel import ChannelCounts, StateCounts, channel_counts, kept_by_channel_and_state


@dataclass(frozen=True)
class ReferralTallies:
    tabs: dict[str, int]  # what `cards.tab_counts` returns
    channels: list[ChannelCounts]  # what `funnel.channel_funnel` reads from the referrals
    on_the_way: int  # the member's referrals in `referrals.reasons.ON_THE_WAY_STATES`


def referral_tallies(*, member: User) -> ReferralTallies:
    """The tab counts, the per-channel funnel counts and the friends on the way: one query (the kept counts per
    channel and state)."""
    rows = [StateCounts(*row) for row in sqlonce.rows(kept_by_channel_and_state, member.pk)]
    tabs = {}
    for key, (_label, states) in TABS.items():
        tabs[key] = sum(row.n for row in rows if not states or row.state in states)
    return ReferralTallies(
        tabs=tabs,
        channels=channel_counts(rows),
        on_the_way=sum(row.n for row in rows if row.state in ON_THE_WAY_STATES),
    )
