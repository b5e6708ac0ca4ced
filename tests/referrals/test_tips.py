"""Invite Friends tips (referrals.tips.pick_tips): a pure function, so no database (docs/program-rules.md section 9)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from referrals.selectors.funnel import ChannelFunnel, Funnel
from referrals.selectors.meter import MonthlyProgress
from referrals.tips import MAX_TIPS, SALE_LOOKAHEAD, SaleEvent, pick_tips

NOW = datetime(2026, 11, 5, 12, 0, tzinfo=UTC)
SINGLES_DAY = SaleEvent(
    name="11.11 Global Shopping Festival",
    starts_at=datetime(2026, 11, 11, tzinfo=UTC),
    ends_at=datetime(2026, 11, 12, tzinfo=UTC),
)


def funnel(*rows: ChannelFunnel, already: int = 0) -> Funnel:
    total = ChannelFunnel("all", "All channels")
    for r in rows:
        for name in ("clicks", "clicks_without_signup", "signups", "first_orders", "coupons", "awaiting_first_order"):
            setattr(total, name, getattr(total, name) + getattr(r, name))
    return Funnel(rows=list(rows), total=total, rejected_already_registered=already)


def progress(count: int = 0) -> MonthlyProgress:
    return MonthlyProgress(count=count, limit=10, month=date(2026, 11, 1), resets_on=date(2026, 12, 1), time_zone="UTC")


NEW_MEMBER = funnel()
# Every tip backed by numbers applies: personal beats social, unanswered clicks, friends waiting to order.
BUSY = funnel(
    ChannelFunnel("whatsapp", "WhatsApp", clicks=2, signups=2, awaiting_first_order=2),
    ChannelFunnel("facebook", "Facebook", clicks=8, clicks_without_signup=8),
)


def keys(tips) -> list[str]:
    return [t.key for t in tips]


def test_a_new_member_without_a_sale_gets_start_then_the_general_sale_and_new_people_tips():
    tips = pick_tips(NEW_MEMBER, progress(), now=NOW)
    assert keys(tips) == ["start", "sales", "new-people"]
    assert tips[1].title == "Share during big sale events"


def test_numbers_backed_tips_come_before_general_advice_when_no_sale_applies():
    assert keys(pick_tips(BUSY, progress(), now=NOW)) == ["personal", "follow-up", "welcome"]


def test_a_running_sale_comes_first_however_many_other_tips_apply():
    during = datetime(2026, 11, 11, 9, 0, tzinfo=UTC)
    tips = pick_tips(BUSY, progress(), sale=SINGLES_DAY, now=during)
    assert keys(tips) == ["sales", "personal", "follow-up"]
    assert tips[0].title == "11.11 Global Shopping Festival is on: share now"
    assert tips[0].text.startswith("11.11 Global Shopping Festival runs until 11 November.")


def test_a_sale_starting_within_a_week_is_shared_for_now():
    tips = pick_tips(BUSY, progress(), sale=SINGLES_DAY, now=NOW)  # six days before
    assert keys(tips) == ["sales", "personal", "follow-up"]
    assert tips[0].title == "Share before 11.11 Global Shopping Festival"
    assert "starts on 11 November" in tips[0].text


@pytest.mark.parametrize(
    "now",
    [
        pytest.param(SINGLES_DAY.starts_at - SALE_LOOKAHEAD - timedelta(seconds=1), id="more-than-a-week-ahead"),
        pytest.param(SINGLES_DAY.ends_at, id="just-ended"),
    ],
)
def test_a_sale_too_far_ahead_or_over_gives_only_the_general_tip(now):
    busy = pick_tips(BUSY, progress(), sale=SINGLES_DAY, now=now)
    assert keys(busy) == ["personal", "follow-up", "welcome"]
    new = pick_tips(NEW_MEMBER, progress(), sale=SINGLES_DAY, now=now)
    assert keys(new) == ["start", "sales", "new-people"] and new[1].title == "Share during big sale events"


def test_a_sale_without_an_end_runs_until_further_notice():
    sale = SaleEvent(name="Winter Sale", starts_at=NOW - timedelta(days=1))
    tips = pick_tips(NEW_MEMBER, progress(), sale=sale, now=NOW)
    assert keys(tips) == ["sales", "start", "new-people"]
    assert tips[0].text.startswith("Winter Sale is running. Friends are most likely")


def test_a_full_month_comes_first_then_the_sale():
    tips = pick_tips(BUSY, progress(count=10), sale=SINGLES_DAY, now=NOW)
    assert keys(tips) == ["limit", "sales", "personal"]


def test_sign_ups_that_already_had_an_account_are_a_numbers_backed_tip():
    already = funnel(ChannelFunnel("telegram", "Telegram", clicks=3, signups=3), already=2)
    tips = pick_tips(already, progress(), now=NOW)
    assert keys(tips) == ["new-people", "welcome", "sales"]
    assert tips[0].text.startswith("2 of your sign-ups already had an account")


@pytest.mark.parametrize("sale", [None, SINGLES_DAY])
@pytest.mark.parametrize("count", [0, 10])
@pytest.mark.parametrize("data", [NEW_MEMBER, BUSY], ids=["new", "busy"])
def test_at_most_max_tips_and_each_tip_once(sale, count, data):
    tips = pick_tips(data, progress(count=count), sale=sale, now=NOW)
    assert len(tips) == MAX_TIPS
    assert len(set(keys(tips))) == len(tips)
