from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from accounts.models import AccountDevice, Device, IPSighting, Notification, Region, User


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ["-date_joined"]
    list_display = ["email", "first_name", "last_name", "country", "status", "phone_verified_at", "date_joined"]
    list_filter = ["status", "country", "is_staff"]
    search_fields = ["email", "first_name", "last_name", "phone"]
    readonly_fields = ["email_normalized", "date_joined", "last_login", "coins", "status_changed_at"]
    fieldsets = [
        (None, {"fields": ["email", "email_normalized", "password"]}),
        ("Profile", {"fields": ["first_name", "last_name", "country", "language", "currency", "time_zone"]}),
        ("Verification", {"fields": ["phone", "phone_verified_at", "email_verified_at"]}),
        ("Program status", {"fields": ["status", "status_reason", "status_changed_at", "coins"]}),
        ("Permissions", {"fields": ["is_active", "is_staff", "is_superuser", "groups", "user_permissions"]}),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [(None, {"classes": ["wide"], "fields": ["email", "first_name", "password1", "password2"]})]


@admin.register(Region)
class RegionAdmin(admin.ModelAdmin):
    list_display = ["country", "name", "is_default", "is_in_program", "currency", "reward_amount", "time_zone"]
    list_filter = ["is_in_program", "currency"]
    search_fields = ["country", "name"]


@admin.register(Device)
class DeviceAdmin(admin.ModelAdmin):
    list_display = ["id_hash", "fingerprint_hash", "first_seen_at", "last_seen_at"]
    search_fields = ["id_hash", "fingerprint_hash"]
    readonly_fields = ["id_hash", "fingerprint_hash", "user_agent", "first_seen_at", "last_seen_at"]


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
