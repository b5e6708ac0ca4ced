"""What the Rewards page reads from the wallet: coins and the check-in streak, coin offers, running sale events and
the coin history (the level part is accounts.levels.standing_for; accounts.views.rewards composes the two)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Q

from accounts.models import User
from coupons.coins import COIN_OFFERS, STREAK_CAP, coins_for_streak, local_day
from coupons.events import active_events
from coupons.models import Campaign, CheckIn, CoinLedger

COIN_HISTORY_ROWS = 10


@dataclass(frozen=True)
class RunningEvent:
    """A running sale event as the member sees it: what they collected, whether any coupon is left."""

    campaign: Campaign
    mine: int  # coupons of this event the member holds
    collected_all: bool  # the per-member limit is reached
    sold_out: bool
    left: int | None  # None: no total limit


def running_events_for(*, member: User, at: datetime) -> list[RunningEvent]:
    """Running sale events, ending soonest first, with what the member collected (one query)."""
    events = active_events(at=at).annotate(mine=Count("coupons", filter=Q(coupons__owner=member)))
    return [
        RunningEvent(
            campaign=event,
            mine=event.mine,
            collected_all=event.mine >= event.per_member_limit,
            sold_out=event.usage_limit is not None and event.used_count >= event.usage_limit,
            left=None if event.usage_limit is None else max(event.usage_limit - event.used_count, 0),
        )
        for event in events
    ]


def rewards_wallet(*, member: User, at: datetime) -> dict:
    """Coins, check-in, offers, events and coin history for the Rewards page (a constant number of queries)."""
    today = local_day(member=member, at=at)
    last = CheckIn.objects.filter(user=member).order_by("-day").first()
    checked_in_today = last is not None and last.day >= today
    streak = last.streak if last is not None and last.day >= today - timedelta(days=1) else 0  # still alive
    next_streak = streak if checked_in_today else streak + 1
    return {
        "coins": member.coins,
        "checked_in_today": checked_in_today,
        "streak": streak,
        "today_coins": coins_for_streak(next_streak),
        "tomorrow_coins": coins_for_streak(next_streak + 1),
        "streak_cap": STREAK_CAP,
        "offers": [
            {"offer": offer, "affordable": member.coins >= offer.cost, "short": max(offer.cost - member.coins, 0)}
            for offer in COIN_OFFERS.values()
        ],
        "events": running_events_for(member=member, at=at),
        "ledger": list(CoinLedger.objects.filter(member=member).order_by("-created_at", "-id")[:COIN_HISTORY_ROWS]),
        "form_token": uuid.uuid4().hex,
    }
