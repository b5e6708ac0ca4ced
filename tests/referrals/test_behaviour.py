"""referrer_behaviour: sign-up bursts, identical first orders and silent friends (docs/program-rules.md section 6)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from itertools import count

import pytest
from django.utils import timezone

from orders.models import Order, OrderLine
from referrals.selectors.behaviour import referrer_behaviour
from tests.factories import ProductFactory, ReferralCodeFactory, ReferralFactory

pytestmark = pytest.mark.django_db
_seq = count(1)


@pytest.fixture
def now():
    return timezone.now().replace(microsecond=0)


@pytest.fixture
def code():
    return ReferralCodeFactory()


def friend_at(code, at):
    return ReferralFactory(code=code, registered_at=at)


def order(buyer, *, placed_at, total="30.00", lines=(), completed_at=None, is_first=False, currency="USD"):
    placed = Order.objects.create(
        buyer=buyer,
        external_id=f"BEH-{next(_seq):05d}",
        is_first=is_first,
        total=Decimal(total),
        subtotal=Decimal(total),
        currency=currency,
        placed_at=placed_at,
        state="completed" if completed_at else "placed",
        completed_at=completed_at,
    )
    for product, quantity in lines:
        OrderLine.objects.create(
            order=placed,
            product=product,
            store=product.store,
            name=product.name,
            quantity=quantity,
            unit_price=product.price,
        )
    return placed


def with_first_order(referral, *, placed_at, lines=(), total="30.00", completed=True):
    completed_at = placed_at + timedelta(days=2) if completed else None
    first = order(
        referral.friend, placed_at=placed_at, total=total, lines=lines, completed_at=completed_at, is_first=True
    )
    referral.first_order = first
    referral.order_placed_at = placed_at
    referral.completed_at = completed_at
    referral.state = "qualified" if completed else "ordered"
    referral.save()
    return first


# --- 1. Sign-up bursts -------------------------------------------------------------


def test_no_friends_gives_the_empty_state(code, now):
    b = referrer_behaviour(referrer=code.user, now=now)
    assert (b.signups_30d, b.signups_24h, b.busiest_hour_count, b.busiest_hour_start) == (0, 0, 0, None)
    assert not b.is_burst and not b.has_identical_orders and not b.is_mostly_silent
    assert b.silent_ratio is None and b.compared_first_orders == 0


def test_three_sign_ups_in_an_hour_are_not_a_burst(code, now):
    start = now - timedelta(days=3)
    for minutes in (0, 20, 40, 60):  # the fourth is exactly one hour later: outside [start, start + 1 h)
        friend_at(code, start + timedelta(minutes=minutes))
    b = referrer_behaviour(referrer=code.user, now=now)
    assert b.busiest_hour_count == 3
    assert b.busiest_hour_start == start
    assert not b.is_burst
    assert (b.signups_30d, b.signups_24h) == (4, 0)


def test_four_sign_ups_in_an_hour_are_a_burst(code, now):
    start = now - timedelta(days=3)
    for minutes in (0, 20, 40, 59):
        friend_at(code, start + timedelta(minutes=minutes))
    friend_at(code, now - timedelta(hours=2))
    b = referrer_behaviour(referrer=code.user, now=now)
    assert (b.busiest_hour_count, b.busiest_hour_start) == (4, start)
    assert b.busiest_hour_end == start + timedelta(hours=1)
    assert b.is_burst
    assert (b.signups_30d, b.signups_24h) == (5, 1)


def test_bursts_older_than_30_days_and_other_referrers_do_not_count(code, now):
    old = now - timedelta(days=31)
    for minutes in (0, 10, 20, 30, 40):
        friend_at(code, old + timedelta(minutes=minutes))
    other = ReferralCodeFactory()
    for minutes in (0, 10, 20, 30, 40):
        friend_at(other, now - timedelta(minutes=minutes))
    friend_at(code, now - timedelta(hours=30))
    b = referrer_behaviour(referrer=code.user, now=now)
    assert (b.busiest_hour_count, b.signups_30d, b.signups_24h) == (1, 1, 0)
    assert not b.is_burst


# --- 2. Identical first orders -------------------------------------------------------


def test_identical_first_orders_are_grouped_with_their_referral_ids(code, now):
    shoes, socks = ProductFactory(name="Shoes"), ProductFactory(name="Socks")
    placed = now - timedelta(days=5)
    same = [friend_at(code, now - timedelta(days=10)) for _ in range(3)]
    for i, referral in enumerate(same):
        # Lines in a different order still make the same basket.
        lines = [(shoes, 1), (socks, 2)] if i % 2 else [(socks, 2), (shoes, 1)]
        with_first_order(referral, placed_at=placed, lines=lines, total="45.00")
    other_total = friend_at(code, now - timedelta(days=10))
    with_first_order(other_total, placed_at=placed, lines=[(shoes, 1), (socks, 2)], total="44.00")
    other_quantity = friend_at(code, now - timedelta(days=10))
    with_first_order(other_quantity, placed_at=placed, lines=[(shoes, 1), (socks, 3)], total="45.00")
    subset = friend_at(code, now - timedelta(days=10))
    with_first_order(subset, placed_at=placed, lines=[(shoes, 1)], total="45.00")

    b = referrer_behaviour(referrer=code.user, now=now)
    assert b.has_identical_orders
    assert b.compared_first_orders == 6
    assert len(b.identical_groups) == 1
    group = b.identical_groups[0]
    assert group.referral_ids == sorted(r.pk for r in same)
    assert group.lines == [("Shoes", 1), ("Socks", 2)]
    assert (group.total, group.currency) == (Decimal("45.00"), "USD")


def test_different_first_orders_are_not_flagged(code, now):
    shoes, socks = ProductFactory(), ProductFactory()
    placed = now - timedelta(days=5)
    with_first_order(friend_at(code, now - timedelta(days=9)), placed_at=placed, lines=[(shoes, 1)], total="20.00")
    with_first_order(friend_at(code, now - timedelta(days=9)), placed_at=placed, lines=[(socks, 1)], total="20.00")
    # A friend's later order with the same basket is not a first order.
    later = friend_at(code, now - timedelta(days=9))
    with_first_order(later, placed_at=placed, lines=[(socks, 2)], total="40.00")
    order(later.friend, placed_at=now - timedelta(days=1), lines=[(shoes, 1)], total="20.00")
    b = referrer_behaviour(referrer=code.user, now=now)
    assert b.compared_first_orders == 3
    assert not b.has_identical_orders and b.identical_groups == []


# --- 3. Friends silent after the first order ---------------------------------------------


def _settled_friend(code, now, *, comes_back: bool):
    referral = friend_at(code, now - timedelta(days=60))
    first = with_first_order(referral, placed_at=now - timedelta(days=40))  # completed 38 days ago
    if comes_back:
        order(referral.friend, placed_at=first.placed_at + timedelta(days=10))
    return referral


def test_mostly_silent_friends_are_flagged(code, now):
    for _ in range(4):
        _settled_friend(code, now, comes_back=False)
    _settled_friend(code, now, comes_back=True)
    # Completed only 10 days ago: too early to call silent, not counted at all.
    recent = friend_at(code, now - timedelta(days=20))
    with_first_order(recent, placed_at=now - timedelta(days=12))
    # Ordered but never completed: not counted.
    with_first_order(friend_at(code, now - timedelta(days=60)), placed_at=now - timedelta(days=50), completed=False)
    b = referrer_behaviour(referrer=code.user, now=now)
    assert (b.silent_friends, b.settled_friends) == (4, 5)
    assert b.silent_ratio == Decimal("0.8") and b.silent_percent == 80
    assert b.is_mostly_silent


def test_friends_who_come_back_are_not_flagged(code, now):
    for _ in range(3):
        _settled_friend(code, now, comes_back=False)
    _settled_friend(code, now, comes_back=True)
    b = referrer_behaviour(referrer=code.user, now=now)
    assert (b.silent_friends, b.settled_friends, b.silent_percent) == (3, 4, 75)
    assert not b.is_mostly_silent


def test_two_silent_friends_are_too_few_to_flag(code, now):
    for _ in range(2):
        _settled_friend(code, now, comes_back=False)
    b = referrer_behaviour(referrer=code.user, now=now)
    assert (b.silent_friends, b.settled_friends, b.silent_percent) == (2, 2, 100)
    assert not b.is_mostly_silent


def test_three_of_three_silent_friends_are_flagged(code, now):
    for _ in range(3):
        _settled_friend(code, now, comes_back=False)
    assert referrer_behaviour(referrer=code.user, now=now).is_mostly_silent


# --- Query count -------------------------------------------------------------------------


def _grow(code, now, n):
    product = ProductFactory()
    for i in range(n):
        referral = friend_at(code, now - timedelta(days=40, minutes=i))
        with_first_order(referral, placed_at=now - timedelta(days=35), lines=[(product, 1 + i % 2)])
        if i % 2:
            order(referral.friend, placed_at=now - timedelta(days=3))
        friend_at(code, now - timedelta(days=2, minutes=i))  # recent sign-ups: every one starts a window


@pytest.mark.parametrize("friends", [5, 50])
def test_a_fixed_number_of_queries_whatever_the_number_of_friends(code, now, friends, django_assert_num_queries):
    _grow(code, now, friends)
    with django_assert_num_queries(3):
        b = referrer_behaviour(referrer=code.user, now=now)
    assert b.settled_friends == friends
    assert b.silent_friends == friends - friends // 2
    assert sum(len(g.referral_ids) for g in b.identical_groups) == friends
    assert b.signups_30d == friends
    assert b.busiest_hour_count == min(friends, 60)
