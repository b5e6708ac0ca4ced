"""Clicks → sign-ups → first orders → coupons per share channel, read on every visit (docs/performance.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from django.db.models import Count, F, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils.translation import gettext as _

from accounts.models import User
from lib import sqlonce
from lib.i18n import choice_labels
from referrals.models import CLICKS_NOT_ROLLED_UP, Channel, Click, ClickRollup, ClickTally, Referral, ReferralTally
from referrals.reasons import ReasonCode, ReferralState


@dataclass
class ChannelFunnel:
    channel: str
    label: str
    clicks: int = 0
    clicks_without_signup: int = 0
    signups: int = 0
    first_orders: int = 0
    coupons: int = 0
    # Signed up, welcome coupons issued, no order yet (not rejected, not under review).
    awaiting_first_order: int = 0


@dataclass
class Funnel:
    rows: list[ChannelFunnel]
    total: ChannelFunnel = field(default_factory=lambda: ChannelFunnel("all", _("All channels")))
    rejected_already_registered: int = 0

    @property
    def active_rows(self) -> list[ChannelFunnel]:
        return [r for r in self.rows if r.clicks or r.signups]


# What the funnel counts over a member's referrals, per channel and state (also read by `tallies.referral_tallies`,
# which derives the tab counts from the same rows): the states' counts come from the grouping, the rest from these.
REFERRAL_COUNTS = {
    "n": Count("id"),
    # A first order: placed, or known only by its completion (the tracker's definition too).
    "ordered": Count("id", filter=Q(order_placed_at__isnull=False) | Q(completed_at__isnull=False)),
    "already": Count("id", filter=Q(reason_code=ReasonCode.ALREADY_REGISTERED)),
}


class StateCounts(NamedTuple):
    """`REFERRAL_COUNTS` of the member's referrals of one channel and state."""

    channel: str
    state: str
    n: int
    ordered: int
    already: int


class ChannelCounts(NamedTuple):
    """The funnel's counts of one channel."""

    channel: str
    n: int
    ordered: int
    credited: int
    awaiting: int  # signed up, no order yet
    already: int


def by_channel_and_state(member_id: int) -> QuerySet:
    """The member's referrals' `REFERRAL_COUNTS` per channel and state (`StateCounts` rows), counted over the
    referrals: the reference the kept counts (`kept_by_channel_and_state`) are tested against."""
    return (
        Referral.objects.filter(referrer_id=member_id)
        .values("channel", "state")
        .annotate(**REFERRAL_COUNTS)
        .order_by()
        .values_list("channel", "state", *REFERRAL_COUNTS)
    )


def kept_by_channel_and_state(member_id: int) -> QuerySet:
    """The same rows as `by_channel_and_state`, summed from the member's `ReferralTally` rows (kept by database
    triggers, a few rows per group, whatever the number of referrals): one statement, so a compaction committing
    meanwhile is seen wholly or not at all. Groups whose referrals all left (n = 0) are dropped."""
    sums = {f"{name}_sum": Sum(name) for name in REFERRAL_COUNTS}
    return (
        ReferralTally.objects.filter(referrer_id=member_id)
        .values("channel", "state")
        .annotate(**sums)
        .exclude(Q(n_sum=0))
        .order_by()
        .values_list("channel", "state", *sums)
    )


def channel_counts(rows: list[StateCounts]) -> list[ChannelCounts]:
    """The funnel's counts per channel from the per-state rows (in the order of the channels' first rows)."""
    channels: dict[str, list[int]] = {}
    for row in rows:
        n, ordered, credited, awaiting, already = channels.setdefault(row.channel, [0, 0, 0, 0, 0])
        channels[row.channel] = [
            n + row.n,
            ordered + row.ordered,
            credited + (row.n if row.state == ReferralState.CREDITED else 0),
            awaiting + (row.n if row.state == ReferralState.REGISTERED else 0),
            already + row.already,
        ]
    return [ChannelCounts(channel, *counts) for channel, counts in channels.items()]


def referral_counts(*, member: User) -> list[ChannelCounts]:
    """The funnel's counts of the member's referrals per channel: one query (of the kept counts)."""
    return channel_counts([StateCounts(*row) for row in sqlonce.rows(kept_by_channel_and_state, member.pk)])


def _clicks_by_channel(member_id: int) -> QuerySet:
    """The member's rolled-up clicks per channel plus the raw ones from the watermark on, in one statement
    (`lib.sqlonce`: compiled once per process). One statement, one snapshot: a roll-up committing meanwhile moves
    the watermark and the tally together, so a click is counted exactly once (docs/performance.md, "Click growth")."""
    counted_before = Coalesce(
        Subquery(ClickRollup.objects.filter(pk=1).values("counted_before")[:1]), Value(CLICKS_NOT_ROLLED_UP)
    )
    # COUNT(*), not COUNT(id): the channel is in click_code_time_chan_idx, the id is not (an index-only scan), and
    # the watermark bounds its second column: a member whose clicks are all rolled up reads no raw entry at all.
    raw = (
        Click.objects.filter(referral_code__user_id=member_id, clicked_at__gte=counted_before)
        .values("channel")
        .annotate(n=Count("*"))
        .order_by()
    )
    tallied = (
        ClickTally.objects.filter(referral_code__user_id=member_id).values("channel").annotate(n=F("clicks")).order_by()
    )
    return raw.union(tallied, all=True).values_list("channel", "n")


def clicks_by_channel(*, member: User) -> dict[str, int]:
    """Every click the member's links ever had, per channel (rolled up, pruned or raw): one query."""
    counts: dict[str, int] = {}
    for channel, n in sqlonce.rows(_clicks_by_channel, member.pk):
        counts[channel] = counts.get(channel, 0) + n
    return counts


def channel_funnel(*, member: User, referrals: list[ChannelCounts] | None = None) -> Funnel:
    """Clicks → sign-ups → first orders → coupons per channel: two aggregate queries (one when the referrals'
    counts are given, from `referral_counts` or `tallies.referral_tallies`)."""
    labels = choice_labels(Channel)
    rows: dict[str, ChannelFunnel] = {}

    def row(channel: str) -> ChannelFunnel:
        if channel not in rows:
            rows[channel] = ChannelFunnel(channel, str(labels.get(channel, channel)))
        return rows[channel]

    # A referral keeps the channel of the link it came through, so "opens without a sign-up" is opens minus
    # sign-ups, per channel (no per-click EXISTS probe). The clicks the roll-up counted (referrals.services.rollup)
    # plus the raw clicks it has not reached yet, in one query.
    for channel, n in clicks_by_channel(member=member).items():
        row(channel).clicks = n

    if referrals is None:
        referrals = referral_counts(member=member)
    already = 0
    for f in referrals:
        r = row(f.channel)
        r.signups, r.first_orders, r.coupons = f.n, f.ordered, f.credited
        r.awaiting_first_order = f.awaiting
        already += f.already
    for r in rows.values():
        if r.channel == Channel.TYPED:
            # A code typed at sign-up opened no link: the row has sign-ups only.
            r.clicks = r.clicks_without_signup = 0
            continue
        # Each row adds up (docs/program-rules.md section 9): every sign-up through a link opened it, even when
        # the open was not recorded (rate limit, a click older than the records), so opens = sign-ups + no sign-up.
        r.clicks = max(r.clicks, r.signups)
        r.clicks_without_signup = r.clicks - r.signups

    order = {c.value: i for i, c in enumerate(Channel)}
    ordered_rows = sorted(rows.values(), key=lambda r: order.get(r.channel, 99))
    total = ChannelFunnel("all", _("All channels"))
    for r in ordered_rows:
        total.clicks += r.clicks
        total.clicks_without_signup += r.clicks_without_signup
        total.signups += r.signups
        total.first_orders += r.first_orders
        total.coupons += r.coupons
        total.awaiting_first_order += r.awaiting_first_order
    return Funnel(rows=ordered_rows, total=total, rejected_already_registered=already)
