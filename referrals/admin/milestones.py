"""Milestones in the admin: program managers set the bonus tiers per region (off by default); awards and the
quarter counters are read-only (they change only through crediting and reversal)."""

from __future__ import annotations

from django.contrib import admin

from lib.admin import ReadOnlyAdminMixin
from referrals.models import MilestoneAward, MilestoneTier, QuarterCreditCounter


@admin.register(MilestoneTier)
class MilestoneTierAdmin(admin.ModelAdmin):
    list_display = ["region", "friends", "value", "min_spend", "valid_days", "is_active"]
    list_filter = ["is_active", "region"]
    list_select_related = ["region"]

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # awards point at it: switch a milestone off by deactivating it


@admin.register(MilestoneAward)
class MilestoneAwardAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["awarded_at", "referrer", "friends", "quarter", "referral", "coupon", "reversed_at"]
    list_filter = ["quarter", "friends"]
    list_select_related = ["referrer", "referral", "coupon"]
    search_fields = ["referrer__email"]


@admin.register(QuarterCreditCounter)
class QuarterCreditCounterAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["referrer", "quarter", "count"]
    list_select_related = ["referrer"]
    search_fields = ["referrer__email"]
