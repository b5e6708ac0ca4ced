"""Milestones under real concurrency (PostgreSQL threads released together by a Barrier): each tier is issued
exactly once however many credits of one referrer run at the same moment (docs/program-rules.md G2)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.models import User
from coupons.models import Coupon
from referrals.models import MilestoneAward, QuarterCreditCounter, Referral
from referrals.reasons import ReferralState
from referrals.services import credit_manually, credit_referral
from tests.concurrency import run_together
from tests.factories import MilestoneTierFactory, OrderFactory, ReferralFactory, UserFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def qualified(referrer):
    now = timezone.now()
    referral = ReferralFactory(referrer=referrer, state=ReferralState.QUALIFIED, completed_at=now, credit_due_at=now)
    referral.first_order = OrderFactory(buyer=referral.friend, completed_at=now, state="completed")
    referral.save(update_fields=["first_order"])
    return referral


def capped(referrer):
    referral = qualified(referrer)
    Referral.objects.filter(pk=referral.pk).update(state=ReferralState.CAPPED, reason_code="MONTHLY_LIMIT")
    return referral


@pytest.mark.parametrize("attempt", range(3))
def test_twelve_credits_at_once_issue_each_milestone_exactly_once(attempt):
    MilestoneTierFactory(friends=3, value=Decimal("10.00"))
    MilestoneTierFactory(friends=8, value=Decimal("25.00"))
    referrer, staff = UserFactory(), UserFactory(is_staff=True)
    automatic = [qualified(referrer).pk for _ in range(8)]  # at most 10 a month: all 8 are credited
    manual = [capped(referrer).pk for _ in range(4)]  # staff credits take no monthly slot, so nothing orders them

    def work(i: int) -> str:
        if i < len(automatic):
            return credit_referral(referral_id=automatic[i])
        referral = Referral.objects.get(pk=manual[i - len(automatic)])
        credit_manually(referral=referral, actor=User.objects.get(pk=staff.pk), reason="Checked by hand")
        return ReferralState.CREDITED

    outcomes, errors = run_together(12, work)
    assert errors == []
    assert outcomes == [ReferralState.CREDITED] * 12
    assert QuarterCreditCounter.objects.get(referrer=referrer).count == 12
    awards = MilestoneAward.objects.filter(referrer=referrer)
    assert sorted(awards.values_list("friends", flat=True)) == [3, 8]
    assert Coupon.objects.filter(owner=referrer, source="milestone").count() == 2
    assert len({a.referral_id for a in awards}) == 2


@pytest.mark.parametrize("attempt", range(3))
def test_twelve_staff_credits_at_once_issue_each_milestone_exactly_once(attempt):
    # Nothing else orders staff credits (no monthly slot): only the quarter counter row does.
    MilestoneTierFactory(friends=3, value=Decimal("10.00"))
    MilestoneTierFactory(friends=8, value=Decimal("25.00"))
    referrer, staff = UserFactory(), UserFactory(is_staff=True)
    ids = [capped(referrer).pk for _ in range(12)]

    def work(i: int) -> int:
        credit_manually(
            referral=Referral.objects.get(pk=ids[i]), actor=User.objects.get(pk=staff.pk), reason="Checked by hand"
        )
        return i

    _, errors = run_together(12, work)
    assert errors == []
    assert sorted(MilestoneAward.objects.filter(referrer=referrer).values_list("friends", flat=True)) == [3, 8]
    assert Coupon.objects.filter(owner=referrer, source="milestone").count() == 2
    assert QuarterCreditCounter.objects.get(referrer=referrer).count == 12
