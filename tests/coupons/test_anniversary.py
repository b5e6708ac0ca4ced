"""Anniversary coupons (docs/program-rules.md section 8): Gold and above get one a year, on their local date."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine

from accounts import levels
from accounts.models import LevelCode, Notification, User
from coupons import anniversary
from coupons.models import Coupon, CouponSource, LedgerEntry
from tests.factories import UserFactory, completed_order

pytestmark = pytest.mark.django_db


def fresh(user) -> User:
    return User.objects.get(pk=user.pk)


# --- Anniversary coupons ----------------------------------------------------------------------


def _gold_member(*, joined: datetime, time_zone: str = "UTC", total: str = "250.00") -> User:
    member = UserFactory(date_joined=joined, time_zone=time_zone)
    completed_order(buyer=member, total=total)
    assert fresh(member).level in {LevelCode.GOLD, LevelCode.PLATINUM, LevelCode.DIAMOND}
    return fresh(member)


def _anniversary_coupons(member) -> list[Coupon]:
    return list(Coupon.objects.filter(owner=member, source=CouponSource.ANNIVERSARY))


def test_gold_member_gets_one_anniversary_coupon_a_year():
    member = _gold_member(joined=datetime(2024, 3, 10, 12, 0, tzinfo=UTC))
    with time_machine.travel(datetime(2025, 3, 9, 23, 0, tzinfo=UTC), tick=False):
        assert anniversary.issue_anniversary_coupons() == 0  # the day before
    with time_machine.travel(datetime(2025, 3, 10, 9, 0, tzinfo=UTC), tick=False):
        assert anniversary.issue_anniversary_coupons() == 1
        assert anniversary.issue_anniversary_coupons() == 0  # a second run the same day
    with time_machine.travel(datetime(2025, 3, 11, 9, 0, tzinfo=UTC), tick=False):
        assert anniversary.issue_anniversary_coupons() == 0  # and the next day
    (coupon,) = _anniversary_coupons(member)
    assert (coupon.value, coupon.min_spend, coupon.currency) == (Decimal("5.00"), Decimal("25.00"), "USD")
    assert LedgerEntry.objects.get(coupon=coupon).idempotency_key == f"anniversary:{member.pk}:2025"
    assert Notification.objects.filter(user=member, dedupe_key=f"anniversary:{member.pk}:2025").count() == 1
    with time_machine.travel(datetime(2026, 3, 10, 9, 0, tzinfo=UTC), tick=False):
        assert anniversary.issue_anniversary_coupons() == 1  # next year: the next one
    assert len(_anniversary_coupons(member)) == 2


def test_silver_members_and_first_year_members_get_no_anniversary_coupon():
    silver = UserFactory(date_joined=datetime(2024, 3, 10, 12, 0, tzinfo=UTC))
    new_gold = _gold_member(joined=datetime(2025, 3, 10, 8, 0, tzinfo=UTC))
    with time_machine.travel(datetime(2025, 3, 10, 9, 0, tzinfo=UTC), tick=False):
        assert anniversary.issue_anniversary_coupons() == 0
    assert not _anniversary_coupons(silver) and not _anniversary_coupons(new_gold)


def test_the_coupon_value_follows_the_level():
    member = _gold_member(joined=datetime(2024, 3, 10, 12, 0, tzinfo=UTC), total="2500.00")
    with time_machine.travel(datetime(2025, 3, 10, 9, 0, tzinfo=UTC), tick=False):
        anniversary.issue_anniversary_coupons()
    (coupon,) = _anniversary_coupons(member)
    assert coupon.value == Decimal("20.00")


@pytest.mark.parametrize(("days_late", "issued"), [(6, 1), (7, 0)])
def test_a_missed_run_catches_up_within_a_week(days_late, issued):
    _gold_member(joined=datetime(2024, 3, 10, 12, 0, tzinfo=UTC))
    with time_machine.travel(datetime(2025, 3, 10, 9, 0, tzinfo=UTC) + timedelta(days=days_late), tick=False):
        assert anniversary.issue_anniversary_coupons() == issued


def test_the_anniversary_is_the_members_local_date():
    # Joined 16:00 UTC on 10 March = 01:00 on 11 March in Tokyo.
    member = _gold_member(joined=datetime(2024, 3, 10, 16, 0, tzinfo=UTC), time_zone="Asia/Tokyo")
    with time_machine.travel(datetime(2025, 3, 10, 14, 59, tzinfo=UTC), tick=False):  # 23:59 on the 10th in Tokyo
        assert anniversary.issue_anniversary_coupons() == 0
    with time_machine.travel(datetime(2025, 3, 10, 15, 0, tzinfo=UTC), tick=False):  # midnight on the 11th
        assert anniversary.issue_anniversary_coupons() == 1
    assert len(_anniversary_coupons(member)) == 1


def test_members_who_joined_on_29_february_celebrate_on_the_28th():
    assert levels.anniversary_on(datetime(2024, 2, 29).date(), 2025) == datetime(2025, 2, 28).date()
    assert levels.anniversary_on(datetime(2024, 2, 29).date(), 2028) == datetime(2028, 2, 29).date()
    _gold_member(joined=datetime(2024, 2, 29, 12, 0, tzinfo=UTC))
    with time_machine.travel(datetime(2025, 2, 28, 9, 0, tzinfo=UTC), tick=False):
        assert anniversary.issue_anniversary_coupons() == 1


def test_flagged_members_get_no_anniversary_coupon():
    from accounts.services import flag_account

    member = _gold_member(joined=datetime(2024, 3, 10, 12, 0, tzinfo=UTC))
    flag_account(member=member, reason_code="STAFF_REVIEW")
    with time_machine.travel(datetime(2025, 3, 10, 9, 0, tzinfo=UTC), tick=False):
        assert anniversary.issue_anniversary_coupons() == 0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_sweeps_at_once_issue_one_anniversary_coupon():
    member = _gold_member(joined=datetime(2024, 3, 10, 12, 0, tzinfo=UTC))
    barrier, errors = threading.Barrier(4), []

    def sweep():
        from django.db import connection

        try:
            barrier.wait()
            anniversary.issue_anniversary_coupon(member=member, year=2025, at=datetime(2025, 3, 10, 9, 0, tzinfo=UTC))
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(_anniversary_coupons(member)) == 1
