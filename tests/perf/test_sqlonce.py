"""lib.sqlonce: a query compiled once answers every later call with that call's values, as the ORM would."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db.models import F, QuerySet
from django.utils import timezone
from django.utils.translation import override

from accounts.models import Region
from accounts.selectors import region_for_country
from coupons.models import Coupon, CouponStatus
from coupons.selectors import _labels
from lib import sqlonce
from lib.i18n import choice_labels
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _coupons(owner_id: int, after: object) -> QuerySet[Coupon]:
    return Coupon.objects.filter(owner_id=owner_id, expires_at__gt=after).order_by("id")


def _values(owner_id: int, after: object) -> QuerySet[Coupon]:
    return _coupons(owner_id, after).values_list("id", "value", "expires_at")


def _some(*ids: int) -> QuerySet[Coupon]:
    return Coupon.objects.filter(pk__in=ids).order_by("id")


def _coupon(owner, *, days: int, value: str = "5.00") -> Coupon:
    now = timezone.now()
    return Coupon.objects.create(
        owner=owner,
        source="welcome",
        value=Decimal(value),
        min_spend=Decimal("0"),
        issued_at=now,
        expires_at=now + timedelta(days=days),
    )


def test_each_call_gets_its_own_values_and_the_orms_types():
    a, b = UserFactory(), UserFactory()
    a1, a2, b1 = _coupon(a, days=1), _coupon(a, days=10, value="2.50"), _coupon(b, days=5)
    now = timezone.now()
    for owner, after in [(a, now), (b, now), (a, now + timedelta(days=2)), (b, now + timedelta(days=6))]:
        assert sqlonce.rows(_values, owner.pk, after) == list(_values(owner.pk, after)), (owner, after)
        assert sqlonce.instances(_coupons, owner.pk, after) == list(_coupons(owner.pk, after))
    assert sqlonce.rows(_values, a.pk, now, limit=1) == [(a1.pk, Decimal("5.00"), a1.expires_at)]
    assert [c.pk for c in sqlonce.instances(_some, a2.pk, b1.pk)] == [a2.pk, b1.pk]
    assert [c.pk for c in sqlonce.instances(_some, a1.pk)] == [a1.pk]  # another length, another compilation


def test_a_value_the_query_does_not_take_is_refused():
    def ignores(owner_id: int) -> QuerySet[Coupon]:
        return Coupon.objects.all().values_list("id")

    with pytest.raises(ValueError, match="does not use value 0"):
        sqlonce.rows(ignores, 1)


def test_region_lookup_sees_a_staff_edit_at_once():
    region = region_for_country("DE")
    Region.objects.filter(pk=region.pk).update(monthly_limit=region.monthly_limit + 1)
    assert region_for_country("DE").monthly_limit == region.monthly_limit + 1


def test_label_maps_follow_the_language():
    with override("de"):
        de = choice_labels(CouponStatus)
        assert de == {value: str(label) for value, label in CouponStatus.choices}
        assert _labels("de").title("Welcome coupon", "welcome") == Coupon(title="Welcome coupon").display_title
    with override("en"):
        assert choice_labels(CouponStatus)["active"] == "Active"


def _with_owner(after: object) -> QuerySet[Coupon]:
    return (
        Coupon.objects.filter(expires_at__gt=after)
        .select_related("owner", "referral")
        .only("id", "value", "owner__email", "referral__id")
        .annotate(twice=F("value") * 2)
        .order_by("id")
    )


def test_instances_bring_select_related_rows_and_annotations_and_page_with_an_offset(django_assert_num_queries):
    a, b = UserFactory(), UserFactory()
    coupons = [_coupon(a, days=1), _coupon(b, days=2, value="2.50"), _coupon(a, days=3, value="7.00")]
    now = timezone.now()
    with django_assert_num_queries(1):  # the owner comes with the row; a null referral is None, not a query
        found = sqlonce.instances(_with_owner, now, limit=2, offset=1)
        seen = [(c.pk, c.value, c.owner.email, c.referral, c.twice) for c in found]
    assert seen == [(c.pk, c.value, c.owner.email, None, c.value * 2) for c in coupons[1:]]
    assert [c.pk for c in sqlonce.instances(_with_owner, now)] == [c.pk for c in _with_owner(now)]
