"""Milestones: a bonus coupon for N friends credited in a calendar quarter, once, reversed with the reward that
reached it, shown on Invite Friends (docs/program-rules.md section 3, milestones)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from accounts.models import Notification, Region
from coupons.models import Coupon, CouponStatus, LedgerEntry
from referrals.models import MilestoneAward, QuarterCreditCounter
from referrals.program import next_program_quarter, program_quarter
from referrals.reasons import ReferralState
from referrals.services import credit_due_referrals, credit_manually, credit_referral
from support.models import SupportRequest
from tests.factories import MilestoneTierFactory, OrderFactory, ReferralFactory, UserFactory
from tests.referrals.helpers import event

pytestmark = pytest.mark.django_db
D = Decimal


def credited(referrer):
    """A friend of `referrer` whose first order completed and whose reward is credited, through the services.

    Each friend completes two days before the previous one, so no burst of qualified friends holds any for review.
    """
    referral = ReferralFactory(referrer=referrer)
    order = OrderFactory(buyer=referral.friend)
    completed_at = timezone.now() - timedelta(
        days=2 * ReferralFactory._meta.model.objects.filter(referrer=referrer).count()
    )
    event(referral, order, "placed", completed_at - timedelta(hours=2))
    event(referral, order, "completed", completed_at - timedelta(hours=1))
    assert credit_referral(referral_id=referral.pk) == ReferralState.CREDITED
    referral.refresh_from_db()
    return referral, order


def milestone_coupons(member):
    return Coupon.objects.filter(owner=member, source="milestone")


def test_the_quarter_is_the_calendar_quarter_in_the_program_time_zone():
    assert program_quarter(at=datetime(2026, 3, 31, 23, 30, tzinfo=UTC), time_zone="UTC") == date(2026, 1, 1)
    assert program_quarter(at=datetime(2026, 3, 31, 23, 30, tzinfo=UTC), time_zone="Europe/Berlin") == date(2026, 4, 1)
    assert program_quarter(at=datetime(2026, 12, 5, tzinfo=UTC), time_zone="UTC") == date(2026, 10, 1)
    assert next_program_quarter(date(2026, 10, 1)) == date(2027, 1, 1)
    assert next_program_quarter(date(2026, 4, 1)) == date(2026, 7, 1)


def test_milestones_are_off_by_default():
    referrer = UserFactory()
    for _ in range(3):
        credited(referrer)
    assert not milestone_coupons(referrer).exists() and not MilestoneAward.objects.exists()
    MilestoneTierFactory(friends=4, is_active=False)  # configured but not switched on
    credited(referrer)
    assert not milestone_coupons(referrer).exists()


def test_the_third_credited_friend_of_the_quarter_earns_the_bonus_once():
    MilestoneTierFactory(friends=3, value=D("10.00"), min_spend=D("30.00"))
    referrer = UserFactory()
    credited(referrer)
    credited(referrer)
    assert not milestone_coupons(referrer).exists()
    third, _ = credited(referrer)
    coupon = milestone_coupons(referrer).get()
    assert (coupon.value, coupon.min_spend, coupon.kind) == (D("10.00"), D("30.00"), "platform")
    award = MilestoneAward.objects.get()
    assert (award.referral, award.coupon, award.friends) == (third, coupon, 3)
    assert LedgerEntry.objects.filter(coupon=coupon, event="issued").count() == 1
    assert Notification.objects.filter(user=referrer, kind="referral_milestone").count() == 1
    assert f"bonus coupon #{coupon.pk} issued" in third.events.last().note  # staff read it in the timeline
    credited(referrer)  # the fourth does not reach it again
    assert milestone_coupons(referrer).count() == 1


def test_a_manual_credit_counts_toward_the_milestone():
    MilestoneTierFactory(friends=2)
    referrer = UserFactory()
    credited(referrer)
    held = ReferralFactory(
        referrer=referrer, state=ReferralState.CAPPED, reason_code="MONTHLY_LIMIT", completed_at=timezone.now()
    )
    credit_manually(referral=held, actor=UserFactory(is_staff=True), reason="Checked by hand")
    assert MilestoneAward.objects.get().referral == held


def test_the_count_starts_again_each_quarter():
    MilestoneTierFactory(friends=2)
    referrer = UserFactory()
    with time_machine.travel(datetime(2026, 3, 31, 12, tzinfo=UTC), tick=False):
        credited(referrer)
    with time_machine.travel(datetime(2026, 4, 1, 12, tzinfo=UTC), tick=False):
        credited(referrer)
        assert not milestone_coupons(referrer).exists()
        credited(referrer)
    assert MilestoneAward.objects.get().quarter == date(2026, 4, 1)
    counts = dict(QuarterCreditCounter.objects.filter(referrer=referrer).values_list("quarter", "count"))
    assert counts == {date(2026, 1, 1): 1, date(2026, 4, 1): 2}


def test_the_milestone_is_in_the_referrers_region_and_currency():
    euro = Region.objects.create(country="DE", name="Germany", currency="EUR", time_zone="Europe/Berlin")
    MilestoneTierFactory(region=euro, friends=1, value=D("8.00"))
    MilestoneTierFactory(friends=1, value=D("9.00"))  # the US tier does not apply to a German referrer
    referrer = UserFactory(country="DE")
    credited(referrer)
    coupon = milestone_coupons(referrer).get()
    assert (coupon.value, coupon.currency) == (D("8.00"), "EUR")


def test_reversing_the_reward_that_reached_it_withdraws_the_bonus():
    MilestoneTierFactory(friends=2)
    referrer = UserFactory()
    credited(referrer)
    second, order = credited(referrer)
    bonus = milestone_coupons(referrer).get()
    event(second, order, "canceled", second.completed_at - timedelta(minutes=30))
    assert second.state == ReferralState.VOIDED
    bonus.refresh_from_db()
    assert bonus.status == CouponStatus.VOIDED
    assert MilestoneAward.objects.get().reversed_at is not None
    rows = list(LedgerEntry.objects.filter(coupon=bonus).order_by("id").values_list("event", "amount"))
    assert rows == [("issued", D("10.00")), ("reversed", D("-10.00"))]
    assert QuarterCreditCounter.objects.get(referrer=referrer).count == 1
    assert second.events.filter(note__contains=f"Milestone bonus coupon #{bonus.pk}").exists()
    assert "milestone bonus" in Notification.objects.get(user=referrer, kind="referral_voided").body
    # The same late event again changes nothing; the next credited friend reaches the milestone anew.
    event(second, order, "canceled", second.completed_at - timedelta(minutes=30))
    assert LedgerEntry.objects.filter(coupon=bonus).count() == 2
    credited(referrer)
    assert milestone_coupons(referrer).filter(status="active").count() == 1
    assert MilestoneAward.objects.filter(reversed_at__isnull=True).count() == 1


def test_reversing_another_friend_keeps_the_bonus_and_it_is_not_issued_twice():
    MilestoneTierFactory(friends=2)
    referrer = UserFactory()
    first, order = credited(referrer)
    credited(referrer)
    event(first, order, "canceled", first.completed_at - timedelta(minutes=30))
    assert milestone_coupons(referrer).get().status == CouponStatus.ACTIVE
    credited(referrer)  # back at 2: the standing award stays the only one
    assert milestone_coupons(referrer).count() == 1


def test_a_spent_bonus_goes_to_support_with_the_reversal_case():
    MilestoneTierFactory(friends=1)
    referrer = UserFactory()
    referral, order = credited(referrer)
    bonus = milestone_coupons(referrer).get()
    spent_on = OrderFactory(buyer=referrer, is_first=False)
    Coupon.objects.filter(pk=bonus.pk).update(status=CouponStatus.USED, used_at=timezone.now(), used_order=spent_on)
    event(referral, order, "refunded", referral.completed_at - timedelta(minutes=30))
    case = SupportRequest.objects.get(referral=referral, kind=SupportRequest.Kind.REWARD_REVERSAL)
    assert case.evidence["coupon_id"] == bonus.pk and "Milestone bonus" in case.message
    assert Coupon.objects.get(referral=referral).status == CouponStatus.VOIDED  # the reward itself withdrawn


def test_invite_friends_shows_the_next_milestone_only_when_one_is_active(client):
    referrer = UserFactory()
    client.force_login(referrer)
    html = client.get(reverse("referrals:invite")).content.decode()
    assert "Quarter milestone" not in html
    MilestoneTierFactory(friends=3, value=D("10.00"))
    MilestoneTierFactory(friends=5, value=D("20.00"))
    credited(referrer)
    html = client.get(reverse("referrals:invite")).content.decode()
    assert "Quarter milestone" in html
    assert "a $10.00 bonus coupon when 3 friends are credited this quarter" in html
    assert "2 more to go." in html
    credited(referrer)
    credited(referrer)
    html = client.get(reverse("referrals:invite")).content.decode()
    assert "a $20.00 bonus coupon when 5 friends are credited this quarter" in html and "Reached this quarter:" in html


def test_the_sweep_counts_every_friend_of_a_batch_and_issues_the_milestone_once():
    """The sweep's batch path (batch.credit_locked) counts each credited friend, in due order, in its transaction."""
    MilestoneTierFactory(friends=2, value=D("10.00"))
    referrer, other = UserFactory(), UserFactory()
    due_at = timezone.now() - timedelta(hours=1)

    def due(member, seconds):
        return ReferralFactory(
            referrer=member, state=ReferralState.QUALIFIED, completed_at=due_at, credit_due_at=due_at + seconds
        )

    first, second, third = (due(referrer, timedelta(seconds=i)) for i in range(3))
    due(other, timedelta(seconds=5))
    assert credit_due_referrals() == {"credited": 4}
    award = MilestoneAward.objects.get()
    assert (award.referral, award.referrer, award.friends) == (second, referrer, 2)
    assert milestone_coupons(referrer).get() == award.coupon and not milestone_coupons(other).exists()
    assert Notification.objects.filter(user=referrer, kind="referral_milestone").count() == 1
    counts = dict(QuarterCreditCounter.objects.values_list("referrer_id", "count"))
    assert counts == {referrer.pk: 3, other.pk: 1}
    assert "Milestone reached" in second.events.last().note
    assert not any("Milestone" in e.note for e in [*first.events.all(), *third.events.all()])
