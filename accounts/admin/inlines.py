"""Read-only inlines of the member page: devices, phone codes, referrals made and received, coupons, coupon ledger."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Count
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.models import AccountDevice, PhoneVerification
from coupons.models import Coupon, LedgerEntry
from referrals.admin.panels import render_timeline, timeline_prefetch
from referrals.models import Referral


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
            # The row's title reads its user: select it too, or each row costs a query.
            .select_related("device", "user")
            .annotate(device_accounts=Count("device__account_devices"))
        )

    @admin.display(description=_("accounts on this device"))
    def device_account_count(self, obj: AccountDevice) -> int:
        return obj.device_accounts


class AccountOfDeviceInline(_ReadOnlyInline):
    """On a device: every account seen on it."""

    model = AccountDevice
    fk_name = "device"
    verbose_name = _("account")
    verbose_name_plural = _("accounts on this device")
    fields = ["user", "user_status", "first_event", "first_seen_at", "last_seen_at"]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user")

    @admin.display(description=_("status"))
    def user_status(self, obj: AccountDevice) -> str:
        return obj.user.get_status_display()


class PhoneVerificationInline(_ReadOnlyInline):
    model = PhoneVerification
    fields = ["phone", "created_at", "expires_at", "attempts", "used_at"]
    readonly_fields = fields
    show_change_link = False
    ordering = ["-created_at"]


class ReferralMadeInline(_ReadOnlyInline):
    """On a member: the friends they invited, with state, reason and timeline."""

    model = Referral
    fk_name = "referrer"
    verbose_name = _("referral made")
    verbose_name_plural = _("referrals made (friends invited)")
    fields = ["friend", "state", "reason_code", "channel", "registered_at", "completed_at", "credited_at", "timeline"]
    readonly_fields = fields
    ordering = ["-registered_at"]

    def get_queryset(self, request):
        # The row's title (Referral.__str__) reads both members.
        return super().get_queryset(request).select_related("friend", "referrer").prefetch_related(timeline_prefetch())

    @admin.display(description=_("timeline"))
    def timeline(self, obj) -> SafeString:
        return render_timeline(obj)


class ReferralReceivedInline(ReferralMadeInline):
    """On a member: the referral that brought them (at most one)."""

    fk_name = "friend"
    verbose_name = _("referral received")
    verbose_name_plural = _("referral received (who invited this member)")
    fields = ["referrer", "state", "reason_code", "channel", "registered_at", "completed_at", "credited_at", "timeline"]
    readonly_fields = fields

    def get_queryset(self, request):
        return (
            super(ReferralMadeInline, self)
            .get_queryset(request)
            .select_related("referrer", "friend")
            .prefetch_related(timeline_prefetch())
        )


class CouponOfMemberInline(_ReadOnlyInline):
    model = Coupon
    fk_name = "owner"
    verbose_name_plural = "coupons"
    fields = ["title", "kind", "source", "value", "currency", "min_spend", "status", "issued_at", "expires_at", "void"]
    readonly_fields = fields
    ordering = ["-issued_at"]

    def get_formset(self, request, obj=None, **kwargs):
        # The void link is shown to staff who may void; the inline is rendered per request.
        self._can_void = request.user.has_perm("accounts.void_coupon")
        return super().get_formset(request, obj, **kwargs)

    @admin.display(description="")
    def void(self, obj) -> str:
        if not getattr(self, "_can_void", False) or not obj.is_voidable:
            return ""
        url = reverse("admin:accounts_user_void_coupon", args=[obj.owner_id, obj.pk])
        return format_html('<a class="button" href="{}">{}</a>', url, gettext("Void…"))


class LedgerOfMemberInline(_ReadOnlyInline):
    model = LedgerEntry
    fk_name = "member"
    verbose_name_plural = _("coupon ledger")
    fields = ["created_at", "event", "amount", "currency", "coupon", "referral", "actor", "reason"]
    readonly_fields = fields
    ordering = ["-created_at", "-id"]
    show_change_link = False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("actor", "coupon", "referral__referrer", "referral__friend")
