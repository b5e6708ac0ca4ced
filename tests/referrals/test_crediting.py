"""Crediting, the monthly limit and staff credits (docs/program-rules.md section 3, docs/program-rules.md G2)."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from accounts.models import Notification, Region
from coupons.models import Coupon, CouponStatus, LedgerEntry
from referrals.models import MonthlyRewardCounter, Referral
from referrals.program import program_month
from referrals.reasons import ReasonCode, ReferralState
from referrals.services import (
    CreditError,
    credit_due_referrals,
    credit_manually,
    credit_referral,
    flag_delayed_referrals,
    reconcile_rewards,
)
from tests.factories import OrderFactory, ReferralFactory, UserFactory

pytestmark = pytest.mark.django_db


def qualified(referrer=None, *, completed_at=None, **fields):
    completed_at = completed_at or timezone.now()
    extra = {"referrer": referrer} if referrer is not None else {}
    referral = ReferralFactory(
        state=ReferralState.QUALIFIED, completed_at=completed_at, credit_due_at=completed_at, **extra, **fields
    )
    referral.first_order = OrderFactory(buyer=referral.friend, completed_at=completed_at, state="completed")
    referral.save(update_fields=["first_order"])
    return referral


def set_counter(referrer, count, *, at=None, time_zone="UTC"):
    month = program_month(at=at or timezone.now(), time_zone=time_zone)
    MonthlyRewardCounter.objects.update_or_create(referrer=referrer, month=month, defaults={"count": count})


def test_credit_issues_the_regions_reward_with_its_ledger_row_and_notice():
    referral = qualified()
    assert credit_referral(referral_id=referral.pk) == ReferralState.CREDITED
    referral.refresh_from_db()
    coupon = Coupon.objects.get(referral=referral)
    assert (coupon.owner, coupon.source, coupon.kind) == (referral.referrer, "referral", "platform")
    assert (coupon.value, coupon.min_spend, coupon.currency) == (Decimal("5.00"), Decimal("20.00"), "USD")
    assert coupon.expires_at - coupon.issued_at == timedelta(days=30)
    assert referral.state == ReferralState.CREDITED
    assert referral.credited_at == coupon.issued_at
    ledger = LedgerEntry.objects.get(coupon=coupon)
    assert (ledger.event, ledger.amount, ledger.referral) == ("issued", Decimal("5.00"), referral)
    assert MonthlyRewardCounter.objects.get(referrer=referral.referrer).count == 1
    notice = Notification.objects.get(user=referral.referrer, kind="referral_credited")
    assert "$5.00" in notice.title


def test_region_settings_decide_amount_minimum_validity_and_limit():
    Region.objects.create(
        country="GB",
        name="United Kingdom",
        currency="GBP",
        reward_amount=Decimal("4.00"),
        reward_min_spend=Decimal("15.00"),
        coupon_valid_days=14,
        monthly_limit=2,
        time_zone="Europe/London",
    )
    referrer = UserFactory(country="GB")
    outcomes = [credit_referral(referral_id=qualified(referrer).pk) for _ in range(3)]
    assert outcomes == [ReferralState.CREDITED, ReferralState.CREDITED, ReferralState.CAPPED]
    coupon = Coupon.objects.filter(owner=referrer).first()
    assert (coupon.value, coupon.min_spend, coupon.currency) == (Decimal("4.00"), Decimal("15.00"), "GBP")
    assert coupon.expires_at - coupon.issued_at == timedelta(days=14)


def test_crediting_is_idempotent():
    referral = qualified()
    results = [credit_referral(referral_id=referral.pk) for _ in range(4)]
    assert results == [ReferralState.CREDITED] * 4
    assert Coupon.objects.filter(owner=referral.referrer).count() == 1
    assert LedgerEntry.objects.filter(member=referral.referrer).count() == 1
    assert MonthlyRewardCounter.objects.get(referrer=referral.referrer).count == 1


@pytest.mark.parametrize("state", [ReferralState.REGISTERED, ReferralState.ORDER_PLACED, ReferralState.UNDER_REVIEW])
def test_only_qualified_referrals_are_credited(state):
    referral = ReferralFactory(state=state)
    assert credit_referral(referral_id=referral.pk) == state
    assert not Coupon.objects.exists()


def test_a_referral_not_yet_due_waits():
    referral = qualified(completed_at=timezone.now() + timedelta(minutes=5))
    assert credit_referral(referral_id=referral.pk) == ReferralState.QUALIFIED
    assert credit_due_referrals() == {}


def test_the_eleventh_is_capped_and_never_credited_later():
    referrer = UserFactory()
    set_counter(referrer, 10)
    referral = qualified(referrer)
    assert credit_referral(referral_id=referral.pk) == ReferralState.CAPPED
    referral.refresh_from_db()
    assert referral.reason_code == ReasonCode.MONTHLY_LIMIT
    # A new month with free slots does not revive it.
    with time_machine.travel(timezone.now() + timedelta(days=40)):
        assert credit_referral(referral_id=referral.pk) == ReferralState.CAPPED
        assert credit_due_referrals() == {}
    assert not Coupon.objects.filter(referral=referral).exists()


def test_the_tenth_credit_and_later_caps_send_one_limit_notice_a_month():
    referrer = UserFactory()
    set_counter(referrer, 9)
    for _ in range(3):
        credit_referral(referral_id=qualified(referrer).pk)
    notices = Notification.objects.filter(user=referrer, kind="referral_monthly_limit")
    assert notices.count() == 1
    assert "10 of 10" in notices.get().title


def test_the_sweep_credits_due_referrals_and_skips_the_rest():
    due = [qualified() for _ in range(3)]
    later = qualified(completed_at=timezone.now() + timedelta(minutes=10))
    done = ReferralFactory(state=ReferralState.VOIDED, reason_code=ReasonCode.FIRST_ORDER_CANCELED)
    assert credit_due_referrals() == {"credited": 3}
    assert credit_due_referrals() == {}
    assert set(Referral.objects.filter(state="credited").values_list("pk", flat=True)) == {r.pk for r in due}
    later.refresh_from_db()
    done.refresh_from_db()
    assert (later.state, done.state) == ("qualified", "voided")


def test_a_failing_referral_does_not_stall_the_sweep(monkeypatch):
    """A batch that fails is rolled back whole and its referrals are credited one by one: only the bad one waits."""
    first, second = qualified(), qualified()
    from referrals.services import batch

    real = batch.issue_coupons

    def failing(new, **kwargs):
        if any(n.referral_id == first.pk for n in new):
            raise RuntimeError("boom")
        return real(new, **kwargs)

    monkeypatch.setattr(batch, "issue_coupons", failing)
    # The one-by-one retry goes through `credit_referral`: on PostgreSQL the function (credit_one), which the bad
    # referral must fail too.
    from referrals.services import crediting

    real_function = crediting.credit_referral_in_database

    def failing_function(*, referral_id):
        if referral_id == first.pk:
            raise RuntimeError("boom")
        return real_function(referral_id=referral_id)

    monkeypatch.setattr(crediting, "credit_referral_in_database", failing_function)
    assert credit_due_referrals() == {"failed": 1, "credited": 1}
    first.refresh_from_db()
    assert first.state == ReferralState.QUALIFIED
    # The failed attempt rolled back its monthly slot with it.
    assert MonthlyRewardCounter.objects.get(referrer=second.referrer).count == 1
    assert MonthlyRewardCounter.objects.filter(referrer=first.referrer, count__gt=0).count() == 0
    monkeypatch.setattr(batch, "issue_coupons", real)
    assert credit_due_referrals() == {"credited": 1}


# --- Month boundary in the program time zone (scenario 7) ---------------------------------------------------

NY = ZoneInfo("America/New_York")


@pytest.fixture
def ny_region():
    return Region.objects.create(country="CA", name="Canada (test, NY time)", time_zone="America/New_York")


@pytest.mark.parametrize(
    ("local", "month"),
    [
        (datetime(2026, 1, 31, 23, 59, 59, tzinfo=NY), date(2026, 1, 1)),
        (datetime(2026, 2, 1, 0, 0, 0, tzinfo=NY), date(2026, 2, 1)),
    ],
)
def test_month_of_crediting_is_taken_in_the_program_time_zone(ny_region, local, month):
    referrer = UserFactory(country="CA")
    MonthlyRewardCounter.objects.create(referrer=referrer, month=date(2026, 1, 1), count=10)
    with time_machine.travel(local, tick=False):
        # In UTC both instants are already February.
        assert timezone.now().astimezone(UTC).month == 2
        referral = qualified(referrer)
        outcome = credit_referral(referral_id=referral.pk)
    expected = ReferralState.CAPPED if month.month == 1 else ReferralState.CREDITED
    assert outcome == expected
    if expected == ReferralState.CREDITED:
        assert MonthlyRewardCounter.objects.get(referrer=referrer, month=month).count == 1


def test_utc_region_month_boundary():
    referrer = UserFactory()
    MonthlyRewardCounter.objects.create(referrer=referrer, month=date(2026, 3, 1), count=10)
    with time_machine.travel(datetime(2026, 3, 31, 23, 59, 59, tzinfo=UTC), tick=False):
        assert credit_referral(referral_id=qualified(referrer).pk) == ReferralState.CAPPED
    with time_machine.travel(datetime(2026, 4, 1, 0, 0, 0, tzinfo=UTC), tick=False):
        assert credit_referral(referral_id=qualified(referrer).pk) == ReferralState.CREDITED


# --- Staff credit ---------------------------------------------------------------------------------------------


def test_staff_credit_past_the_limit_with_reason_and_actor():
    staff = UserFactory(is_staff=True)
    referrer = UserFactory()
    set_counter(referrer, 10)
    referral = qualified(referrer)
    assert credit_referral(referral_id=referral.pk) == ReferralState.CAPPED
    coupon = credit_manually(referral=referral, actor=staff, reason="Goodwill after complaint #42")
    referral.refresh_from_db()
    assert (referral.state, referral.reason_code) == (ReferralState.CREDITED, ReasonCode.MANUAL_CREDIT)
    assert coupon.referral == referral
    ledger = LedgerEntry.objects.get(coupon=coupon)
    assert ledger.actor == staff
    assert "MANUAL_CREDIT" in ledger.reason
    assert "Goodwill after complaint #42" in ledger.reason
    last = referral.events.last()
    assert (last.actor, last.actor_kind, last.note) == (staff, "staff", "Goodwill after complaint #42")
    assert MonthlyRewardCounter.objects.get(referrer=referrer).count == 10  # no slot taken
    with pytest.raises(CreditError, match="cannot be credited"):
        credit_manually(referral=referral, actor=staff, reason="again")
    assert Coupon.objects.filter(referral=referral).count() == 1


def test_staff_credit_needs_a_reason_staff_and_a_completed_order():
    staff = UserFactory(is_staff=True)
    referral = qualified()
    with pytest.raises(CreditError, match="reason"):
        credit_manually(referral=referral, actor=staff, reason="  ")
    with pytest.raises(CreditError, match="Only staff"):
        credit_manually(referral=referral, actor=UserFactory(), reason="because")
    review = ReferralFactory(state=ReferralState.UNDER_REVIEW, reason_code=ReasonCode.IP_BURST)
    with pytest.raises(CreditError, match="has not completed"):
        credit_manually(referral=review, actor=staff, reason="because")
    registered = ReferralFactory()
    with pytest.raises(CreditError, match="cannot be credited"):
        credit_manually(referral=registered, actor=staff, reason="because")
    assert not Coupon.objects.exists()


# --- 24 hours: TECHNICAL_DELAY and the nightly reconciliation -------------------------------------------------


def test_delay_flag_at_exactly_24_hours_after_completion():
    completed = datetime(2026, 5, 10, 12, 0, 0, tzinfo=UTC)
    referral = qualified(completed_at=completed)
    with time_machine.travel(completed + timedelta(hours=24) - timedelta(seconds=1), tick=False):
        assert flag_delayed_referrals() == 0
    with time_machine.travel(completed + timedelta(hours=24), tick=False):
        assert flag_delayed_referrals() == 1
        assert flag_delayed_referrals() == 0
    referral.refresh_from_db()
    assert referral.state == ReferralState.QUALIFIED
    assert referral.reason_code == ReasonCode.TECHNICAL_DELAY
    assert referral.delay_flagged_at == completed + timedelta(hours=24)
    assert referral.events.filter(reason_code=ReasonCode.TECHNICAL_DELAY).count() == 1
    # Still owed: the sweep credits it and the delay reason gives way.
    assert credit_due_referrals() == {"credited": 1}
    referral.refresh_from_db()
    assert (referral.state, referral.reason_code) == (ReferralState.CREDITED, "")


def test_reconciliation_reports_completed_first_orders_without_reward_or_reason():
    now = timezone.now()
    stuck = qualified(completed_at=now - timedelta(hours=25))
    fresh = qualified(completed_at=now - timedelta(hours=23))
    credited = qualified(completed_at=now - timedelta(hours=30))
    credit_referral(referral_id=credited.pk)
    capped = ReferralFactory(state=ReferralState.CAPPED, reason_code=ReasonCode.MONTHLY_LIMIT)
    OrderFactory(buyer=capped.friend, completed_at=now - timedelta(days=2))
    # The completion never reached the referral (lost event): still reported, from the order.
    missed = ReferralFactory(state=ReferralState.ORDER_PLACED)
    OrderFactory(buyer=missed.friend, completed_at=now - timedelta(days=2), state="completed")
    report = reconcile_rewards()
    assert {row["referral_id"] for row in report} == {stuck.pk, missed.pk}
    assert fresh.pk not in {row["referral_id"] for row in report}


# --- Scenario 1: the limit under concurrency (PostgreSQL, real threads) ---------------------------------------


def _credit_concurrently(referral_ids):
    barrier = threading.Barrier(len(referral_ids))
    outcomes, errors = [], []

    def worker(pk):
        try:
            barrier.wait(timeout=30)
            outcomes.append(credit_referral(referral_id=pk))
        except Exception as exc:  # noqa: BLE001 - every error is a test failure, reported below
            errors.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(pk,)) for pk in referral_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return outcomes, errors


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("attempt", range(3))
def test_fifty_concurrent_credits_at_nine_of_ten_give_exactly_one(attempt):
    referrer = UserFactory()
    set_counter(referrer, 9)
    ids = [qualified(referrer).pk for _ in range(50)]
    outcomes, errors = _credit_concurrently(ids)
    assert errors == []
    assert sorted(outcomes).count(ReferralState.CREDITED) == 1
    assert sorted(outcomes).count(ReferralState.CAPPED) == 49
    assert Coupon.objects.filter(owner=referrer, status=CouponStatus.ACTIVE).count() == 1
    assert MonthlyRewardCounter.objects.get(referrer=referrer).count == 10
    assert Referral.objects.filter(referrer=referrer, state="capped").count() == 49
    assert Notification.objects.filter(user=referrer, kind="referral_monthly_limit").count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("attempt", range(3))
def test_new_month_without_counter_row_gives_exactly_ten(attempt):
    referrer = UserFactory()
    ids = [qualified(referrer).pk for _ in range(50)]
    assert not MonthlyRewardCounter.objects.filter(referrer=referrer).exists()
    outcomes, errors = _credit_concurrently(ids)
    assert errors == []
    assert outcomes.count(ReferralState.CREDITED) == 10
    assert outcomes.count(ReferralState.CAPPED) == 40
    assert Coupon.objects.filter(owner=referrer).count() == 10
    assert MonthlyRewardCounter.objects.get(referrer=referrer).count == 10


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_same_referral_credited_by_twenty_threads_gives_one_coupon():
    referral = qualified()
    outcomes, errors = _credit_concurrently([referral.pk] * 20)
    assert errors == []
    assert outcomes == [ReferralState.CREDITED] * 20
    assert Coupon.objects.filter(referral=referral).count() == 1
    assert MonthlyRewardCounter.objects.get(referrer=referral.referrer).count == 1
