"""Staff screens for regions, devices, IP sightings and notifications."""

from __future__ import annotations

from uuid import uuid4

from django.contrib import admin

from accounts.admin.inlines import AccountOfDeviceInline
from accounts.forms import RegionAdminForm
from accounts.models import AccountDevice, Device, IPSighting, Notification, Region
from accounts.notify import notify
from support.admin.staff_actions import OptionalNoteForm, run_staff_action


@admin.register(Region)
class RegionAdmin(admin.ModelAdmin):
    form = RegionAdminForm
    list_display = ["country", "name", "is_default", "is_in_program", "currency", "reward_amount", "time_zone"]
    list_filter = ["is_in_program", "currency"]
    search_fields = ["country", "name"]

    def get_readonly_fields(self, request, obj=None):
        # The bounds of what staff may hand out by hand are not for the staff they bound (coupons.services.manual).
        readonly = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            readonly += ["manual_coupon_ceiling", "manual_coupon_approval_above"]
        return readonly


@admin.register(Device)
class DeviceAdmin(admin.ModelAdmin):
    list_display = ["id_hash", "fingerprint_hash", "first_seen_at", "last_seen_at"]
    search_fields = ["id_hash", "fingerprint_hash", "account_devices__user__email"]
    readonly_fields = ["id_hash", "fingerprint_hash", "user_agent", "first_seen_at", "last_seen_at"]
    inlines = [AccountOfDeviceInline]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(AccountDevice)
class AccountDeviceAdmin(admin.ModelAdmin):
    list_display = ["user", "device", "first_event", "first_seen_at", "last_seen_at"]
    list_select_related = ["user", "device"]
    search_fields = ["user__email", "device__id_hash"]
    raw_id_fields = ["user", "device"]


@admin.register(IPSighting)
class IPSightingAdmin(admin.ModelAdmin):
    list_display = ["kind", "user", "ip_hash", "ip_country", "seen_at"]
    list_filter = ["kind", "ip_country"]
    list_select_related = ["user"]
    search_fields = ["ip_hash", "user__email"]
    raw_id_fields = ["user"]


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["user", "kind", "title", "created_at", "read_at", "emailed_at"]
    list_filter = ["kind"]
    list_select_related = ["user"]
    search_fields = ["user__email", "title"]
    raw_id_fields = ["user"]
    actions = ["resend_notices"]

    def has_resend_permission(self, request) -> bool:
        return request.user.has_perm("accounts.resend_notice")

    @admin.action(permissions=["resend"], description="Resend notice (inbox and e-mail)…")
    def resend_notices(self, request, queryset):
        def perform(notice, data):
            # A fresh dedupe key: the original key already says "sent once".
            copy = notify(
                member=notice.user,
                kind=notice.kind,
                title=notice.title,
                body=notice.body,
                link=notice.link,
                dedupe_key=f"resend:{notice.pk}:{uuid4().hex[:16]}",
            )
            return {"new_notification_id": copy.pk if copy else None, "user_id": notice.user_id}

        return run_staff_action(
            self,
            request,
            queryset,
            action="notice.resend",
            title="Resend notices",
            intro="Each notice is sent again as a new inbox message and e-mail to its member.",
            perform=perform,
            form_class=OptionalNoteForm,
            submit_label="Resend",
            done_message="{count} notice(s) resent.",
        )
