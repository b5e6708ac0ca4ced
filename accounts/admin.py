from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.db.models import Count

from accounts import services
from accounts.forms import RegionAdminForm
from accounts.models import (
    AccountDevice,
    Device,
    IPSighting,
    Notification,
    PhoneVerification,
    Region,
    StatusReason,
    User,
)


class _ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class DeviceOfUserInline(_ReadOnlyInline):
    """On a member: every device (browser) they were seen on."""

    model = AccountDevice
    fk_name = "user"
    verbose_name = "device"
    verbose_name_plural = "devices"
    fields = ["device", "device_account_count", "first_event", "first_seen_at", "last_seen_at"]
    readonly_fields = fields

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("device")
            .annotate(device_accounts=Count("device__account_devices"))
        )

    @admin.display(description="accounts on this device")
    def device_account_count(self, obj: AccountDevice) -> int:
        return obj.device_accounts


class AccountOfDeviceInline(_ReadOnlyInline):
    """On a device: every account seen on it."""

    model = AccountDevice
    fk_name = "device"
    verbose_name = "account"
    verbose_name_plural = "accounts on this device"
    fields = ["user", "user_status", "first_event", "first_seen_at", "last_seen_at"]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user")

    @admin.display(description="status")
    def user_status(self, obj: AccountDevice) -> str:
        return obj.user.get_status_display()


class PhoneVerificationInline(_ReadOnlyInline):
    model = PhoneVerification
    fields = ["phone", "created_at", "expires_at", "attempts", "used_at"]
    readonly_fields = fields
    show_change_link = False
    ordering = ["-created_at"]


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ["-date_joined"]
    list_display = ["email", "first_name", "last_name", "country", "status", "status_reason", "phone_verified_at"]
    list_filter = ["status", "status_reason", "level", "country", "is_staff"]
    search_fields = ["email", "email_normalized", "first_name", "last_name", "phone"]
    # Status changes go through the actions below (services), never by editing the fields.
    readonly_fields = [
        "email_normalized",
        "date_joined",
        "last_login",
        "coins",
        "level",
        "level_points",
        "level_updated_at",
        "points_expire_at",
        "status",
        "status_reason",
        "status_changed_at",
    ]
    fieldsets = [
        (None, {"fields": ["email", "email_normalized", "password"]}),
        ("Profile", {"fields": ["first_name", "last_name", "country", "language", "currency", "time_zone"]}),
        ("Verification", {"fields": ["phone", "phone_verified_at", "email_verified_at"]}),
        ("Program status", {"fields": ["status", "status_reason", "status_changed_at", "coins"]}),
        ("Level", {"fields": ["level", "level_points", "level_updated_at", "points_expire_at"]}),
        ("Permissions", {"fields": ["is_active", "is_staff", "is_superuser", "groups", "user_permissions"]}),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [(None, {"classes": ["wide"], "fields": ["email", "first_name", "password1", "password2"]})]
    inlines = [DeviceOfUserInline, PhoneVerificationInline]
    actions = ["flag_for_review", "clear_flags", "suspend", "reactivate_accounts"]

    def _apply(self, request, queryset, service, done: str, **kwargs) -> None:
        for user in queryset:
            service(user=user, actor=request.user, **kwargs)
        self.message_user(request, f"{queryset.count()} account(s) {done}.", messages.SUCCESS)

    @admin.action(description="Flag for review (STAFF_REVIEW)")
    def flag_for_review(self, request, queryset) -> None:
        self._apply(request, queryset, services.flag_account, "flagged", reason_code=StatusReason.STAFF_REVIEW)

    @admin.action(description="Clear flag")
    def clear_flags(self, request, queryset) -> None:
        self._apply(request, queryset, services.clear_flag, "cleared (flagged ones only)")

    @admin.action(description="Suspend (TERMS_VIOLATION)")
    def suspend(self, request, queryset) -> None:
        self._apply(request, queryset, services.suspend_account, "suspended", reason_code=StatusReason.TERMS_VIOLATION)

    @admin.action(description="Reactivate")
    def reactivate_accounts(self, request, queryset) -> None:
        self._apply(request, queryset, services.reactivate, "reactivated")


@admin.register(Region)
class RegionAdmin(admin.ModelAdmin):
    form = RegionAdminForm
    list_display = ["country", "name", "is_default", "is_in_program", "currency", "reward_amount", "time_zone"]
    list_filter = ["is_in_program", "currency"]
    search_fields = ["country", "name"]


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


# --- Levels and coins ----------------------------------------------------------------
from accounts.forms import LevelAdminForm  # noqa: E402
from accounts.models import CheckIn, CoinLedger, Level  # noqa: E402


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


@admin.register(CoinLedger)
class CoinLedgerAdmin(admin.ModelAdmin):
    """Append-only: every coin movement with its balance after it."""

    list_display = ["created_at", "member", "delta", "balance_after", "kind", "reason"]
    list_filter = ["kind"]
    list_select_related = ["member"]
    search_fields = ["member__email", "idempotency_key"]
    date_hierarchy = "created_at"

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(CheckIn)
class CheckInAdmin(admin.ModelAdmin):
    list_display = ["day", "user", "streak", "coins", "created_at"]
    list_select_related = ["user"]
    search_fields = ["user__email"]
    date_hierarchy = "day"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
