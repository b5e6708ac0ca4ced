"""The audit log in the staff console: read-only, searchable by target, reason and staff member."""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from lib.admin import ReadOnlyAdminMixin
from support.models import AuditLog


@admin.register(AuditLog)
class AuditLogAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["created_at", "actor", "action", "target_type", "target_id", "target_repr", "reason"]
    list_filter = ["action", ("actor", admin.RelatedOnlyFieldListFilter), "created_at", "target_type"]
    list_select_related = ["actor"]
    search_fields = ["target_repr", "target_id", "=target_type", "reason", "actor__email"]
    search_help_text = _("Target (e.g. a member's e-mail or an id), reason, or staff e-mail.")
    date_hierarchy = "created_at"

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in AuditLog._meta.fields]
