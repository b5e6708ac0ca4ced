"""Staff changelists of tables that grow without bound never read every row (docs/performance.md)."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.db import connection, models

from coupons.models import Coupon
from lib import admin as lib_admin
from lib.admin import BigTableAdminMixin, EstimatedCountPaginator
from tests.factories import CouponFactory

BIG_MODELS = {"referral", "referralreview", "click", "coupon", "ledgerentry", "coinledger", "user"}


def big_admins():
    return {m._meta.model_name: a for m, a in admin.site._registry.items() if m._meta.model_name in BIG_MODELS}


def test_every_big_table_admin_counts_cheaply():
    admins = big_admins()
    assert set(admins) == BIG_MODELS
    for name, model_admin in admins.items():
        assert isinstance(model_admin, BigTableAdminMixin), name
        assert model_admin.paginator is EstimatedCountPaginator, name
        assert model_admin.show_full_result_count is False, name


def test_no_big_table_admin_lists_every_row_for_a_filter_or_a_date_hierarchy():
    """A date hierarchy reads every row's date; a plain text field as a filter runs SELECT DISTINCT over the table."""
    for name, model_admin in big_admins().items():
        assert not model_admin.date_hierarchy, name
        for entry in model_admin.list_filter:
            if isinstance(entry, str) and "__" not in entry:
                field = model_admin.model._meta.get_field(entry)
                assert (
                    field.choices or isinstance(field, models.BooleanField | models.DateField) or field.is_relation
                ), f"{name}.{entry}: a DISTINCT over the whole table; use a SimpleListFilter"


@pytest.mark.django_db
def test_filtered_and_small_lists_are_counted_exactly():
    CouponFactory.create_batch(3)
    assert EstimatedCountPaginator(Coupon.objects.order_by("pk"), 100).count == 3
    assert EstimatedCountPaginator(Coupon.objects.filter(status="used").order_by("pk"), 100).count == 0


@pytest.mark.postgres
@pytest.mark.django_db
def test_an_unfiltered_big_list_is_counted_with_the_planner_estimate(monkeypatch):
    CouponFactory.create_batch(5)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE coupons_coupon")
        cursor.execute("UPDATE pg_class SET reltuples = 1234567 WHERE oid = 'coupons_coupon'::regclass")
    monkeypatch.setattr(lib_admin, "ESTIMATE_COUNT_ABOVE", 1000)
    assert EstimatedCountPaginator(Coupon.objects.order_by("pk"), 100).count == 1234567
    # Filtered: exact, whatever the estimate.
    assert EstimatedCountPaginator(Coupon.objects.filter(value__gt=0).order_by("pk"), 100).count == 5


@pytest.mark.django_db
def test_the_big_changelists_render_with_their_filters(staff_client):
    CouponFactory.create_batch(2)
    for url in [
        "/admin/coupons/coupon/",
        "/admin/coupons/coupon/?currency=USD",
        "/admin/accounts/user/",
        "/admin/accounts/user/?status_reason=DEVICE_RING",
        "/admin/referrals/referral/",
        "/admin/coupons/ledgerentry/",
        "/admin/referrals/click/",
    ]:
        assert staff_client.get(url).status_code == 200, url
