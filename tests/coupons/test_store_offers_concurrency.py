"""Collecting store coupons under real concurrency (PostgreSQL threads released by a Barrier): once per member,
never past the offer's total limit (docs/program-rules.md G2)."""

from __future__ import annotations

import pytest

from accounts.models import User
from coupons.models import Coupon, LedgerEntry, StoreOffer, StoreOfferAudience, StoreOfferClaim
from coupons.services.store_offers import collect_store_offer
from coupons.store_offers import StoreOfferError
from tests.concurrency import run_together
from tests.factories import StoreOfferFactory, UserFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _collect(member_id: int, offer_id: int) -> Coupon:
    return collect_store_offer(member=User.objects.get(pk=member_id), offer_id=offer_id)


@pytest.mark.parametrize("attempt", range(3))
def test_one_member_clicking_ten_times_at_once_gets_one_coupon(attempt):
    member = UserFactory()
    offer = StoreOfferFactory(audience=StoreOfferAudience.FIRST_BUYERS, total_limit=5)
    coupons, errors = run_together(10, lambda i: _collect(member.pk, offer.pk))
    assert len(coupons) == 1 and len(errors) == 9
    assert {e.code for e in errors if isinstance(e, StoreOfferError)} == {"ALREADY_COLLECTED"}
    assert all(isinstance(e, StoreOfferError) for e in errors)
    assert Coupon.objects.filter(owner=member).count() == 1
    assert StoreOfferClaim.objects.filter(member=member).count() == 1
    assert StoreOffer.objects.get(pk=offer.pk).collected_count == 1
    assert LedgerEntry.objects.filter(member=member, event="issued").count() == 1


@pytest.mark.parametrize("attempt", range(3))
def test_twenty_members_racing_for_five_coupons_get_exactly_five(attempt):
    members = [UserFactory() for _ in range(20)]
    offer = StoreOfferFactory(audience=StoreOfferAudience.FIRST_BUYERS, total_limit=5)
    coupons, errors = run_together(20, lambda i: _collect(members[i].pk, offer.pk))
    assert len(coupons) == 5 and len(errors) == 15
    assert {e.code for e in errors} == {"ALL_COLLECTED"}
    assert StoreOffer.objects.get(pk=offer.pk).collected_count == 5
    assert StoreOfferClaim.objects.filter(offer=offer).count() == 5
    assert Coupon.objects.filter(store=offer.store).count() == 5
