"""Member levels: program managers edit thresholds and benefits (docs/program-rules.md section 8)."""

from __future__ import annotations

from django.contrib import admin

from accounts.forms import LevelAdminForm
from accounts.models import Level


@admin.register(Level)
class LevelAdmin(admin.ModelAdmin):
    """Program managers edit thresholds and benefits; the four levels themselves are fixed."""

    form = LevelAdminForm
    list_display = [
        "code",
        "min_points",
        "anniversary_coupon_value",
        "anniversary_coupon_min_spend",
        "fast_refund_limit",
        "support_priority",
    ]
    ordering = ["min_points"]

    def get_readonly_fields(self, request, obj=None):
        return ["code"] if obj else []

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
