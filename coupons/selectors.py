"""What the coupon pages read."""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils import timezone

from coupons.models import Coupon


def usable_coupons(*, owner) -> QuerySet[Coupon]:
    """The member's usable coupons, soonest expiry first."""
    return Coupon.objects.usable(at=timezone.now()).filter(owner=owner).select_related("store").order_by("expires_at")
