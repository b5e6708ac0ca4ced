"""Support requests in the staff console: members open them (with their evidence), staff answer them."""

from __future__ import annotations

import json

from django.contrib import admin
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from support.audit import record_staff_action
from support.models import SupportRequest


@admin.register(SupportRequest)
class SupportRequestAdmin(admin.ModelAdmin):
    list_display = ("id", "member", "kind", "status", "priority", "referral", "created_at", "handled_by")
    list_filter = ("status", "kind", "priority")
    search_fields = ("member__email", "=id", "=referral__id")
    list_select_related = ("member", "referral", "referral__referrer", "referral__friend", "handled_by")
    ordering = ("priority", "created_at")
    date_hierarchy = "created_at"
    readonly_fields = (
        "member",
        "referral",
        "kind",
        "message",
        "evidence_pretty",
        "priority",
        "created_at",
        "updated_at",
        "resolved_at",
        "handled_by",
    )
    fields = (*readonly_fields[:4], "evidence_pretty", "status", "staff_reply", *readonly_fields[5:])

    @admin.display(description=_("Evidence (attached automatically)"))
    def evidence_pretty(self, obj: SupportRequest) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.evidence, indent=2, ensure_ascii=False, sort_keys=True))

    def has_add_permission(self, request) -> bool:
        # Requests come from members (with their evidence); staff answer them.
        return False

    def save_model(self, request, obj: SupportRequest, form, change: bool) -> None:
        changed = set(form.changed_data)
        if changed & {"status", "staff_reply"}:
            obj.handled_by = request.user
            if obj.status in (SupportRequest.Status.RESOLVED, SupportRequest.Status.REJECTED):
                obj.resolved_at = obj.resolved_at or timezone.now()
            else:
                obj.resolved_at = None
        super().save_model(request, obj, form, change)
        if change and changed:
            record_staff_action(
                actor=request.user,
                action="support_request.update",
                target=obj,
                reason=obj.staff_reply,
                details={"changed": sorted(changed), "status": obj.status},
            )
