from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from accounts import services
from accounts.forms import RegionAdminForm
from accounts.models import (
    AccountDevice,
    AccountStatus,
    Device,
    IPSighting,
    Notification,
    PhoneVerification,
    Region,
    StatusReason,
    User,
)
from coupons.models import Coupon, LedgerEntry
from referral_portal.admin_mixins import ReadOnlyAdminMixin
from referrals.models import Referral
from support.staff_actions import ActionRefused, OptionalNoteForm, ReasonForm, perform_and_audit, run_staff_action


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


class StatusReasonForm(ReasonForm):
    reason_code = forms.ChoiceField(
        label="Reason code",
        choices=StatusReason.choices,
        initial=StatusReason.STAFF_REVIEW,
        help_text="For staff only; the member only sees the standard security message.",
    )
    field_order = ["reason_code", "reason"]


def _void(coupon, data: dict, *, actor) -> dict:
    from coupons.services import void_coupon

    if coupon.status != "active":
        raise ActionRefused(f"the coupon is {coupon.get_status_display().lower()}, not active")
    void_coupon(coupon=coupon, actor=actor, reason=data["reason"])
    return {"owner_id": coupon.owner_id, "value": str(coupon.value), "currency": coupon.currency}


class ReferralMadeInline(_ReadOnlyInline):
    """On a member: the friends they invited, with state, reason and timeline."""

    model = Referral
    fk_name = "referrer"
    verbose_name = "referral made"
    verbose_name_plural = "referrals made (friends invited)"
    fields = ["friend", "state", "reason_code", "channel", "registered_at", "completed_at", "credited_at", "timeline"]
    readonly_fields = fields
    ordering = ["-registered_at"]

    def get_queryset(self, request):
        from referrals.admin import timeline_prefetch

        # The row's title (Referral.__str__) reads both members.
        return super().get_queryset(request).select_related("friend", "referrer").prefetch_related(timeline_prefetch())

    @admin.display(description="timeline")
    def timeline(self, obj) -> SafeString:
        from referrals.admin import render_timeline

        return render_timeline(obj)


class ReferralReceivedInline(ReferralMadeInline):
    """On a member: the referral that brought them (at most one)."""

    fk_name = "friend"
    verbose_name = "referral received"
    verbose_name_plural = "referral received (who invited this member)"
    fields = ["referrer", "state", "reason_code", "channel", "registered_at", "completed_at", "credited_at", "timeline"]
    readonly_fields = fields

    def get_queryset(self, request):
        from referrals.admin import timeline_prefetch

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
        if not getattr(self, "_can_void", False) or obj.status != "active":
            return ""
        url = reverse("admin:accounts_user_void_coupon", args=[obj.owner_id, obj.pk])
        return format_html('<a class="button" href="{}">Void…</a>', url)


class LedgerOfMemberInline(_ReadOnlyInline):
    model = LedgerEntry
    fk_name = "member"
    verbose_name_plural = "coupon ledger"
    fields = ["created_at", "event", "amount", "currency", "coupon", "referral", "actor", "reason"]
    readonly_fields = fields
    ordering = ["-created_at", "-id"]
    show_change_link = False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("actor", "coupon", "referral__referrer", "referral__friend")


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
    inlines = [
        DeviceOfUserInline,
        PhoneVerificationInline,
        ReferralMadeInline,
        ReferralReceivedInline,
        CouponOfMemberInline,
        LedgerOfMemberInline,
    ]
    actions = ["flag_for_review", "clear_flags", "suspend", "reactivate_accounts"]
    search_help_text = "E-mail, phone, name, referral code or order id."

    def get_search_results(self, request, queryset, search_term):
        """Also find a member by their referral code (any case) or by one of their orders' ids."""
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        term = search_term.strip()
        if term:
            extra = Q(referral_code__code=term.upper()) | Q(orders__external_id=term)
            if term.isdigit():
                extra |= Q(orders__pk=int(term))
            results = results | queryset.filter(pk__in=User.objects.filter(extra).values("pk"))
        return results, may_have_duplicates

    def get_fieldsets(self, request, obj=None):
        fieldsets = list(super().get_fieldsets(request, obj))
        if obj is not None and request.user.has_perm("accounts.view_accountdevice"):
            fieldsets.append(("Linked accounts (sharing a device or a payment card)", {"fields": ["linked_accounts"]}))
        if obj is not None and request.user.has_perm("referrals.view_referral"):
            fieldsets.append(("Behaviour (friends invited by this member)", {"fields": ["behaviour"]}))
        return fieldsets

    def get_readonly_fields(self, request, obj=None):
        return [*super().get_readonly_fields(request, obj), "linked_accounts", "behaviour"]

    @admin.display(description="behaviour")
    def behaviour(self, obj: User) -> SafeString:
        from referrals.admin import render_behaviour

        return render_behaviour(obj)

    @admin.display(description="linked accounts")
    def linked_accounts(self, obj: User) -> SafeString:
        from accounts.selectors import linked_accounts

        return SafeString(
            render_to_string("admin/accounts/linked_accounts.html", {"accounts": linked_accounts(user=obj)})
        )

    def get_urls(self):
        urls = [
            path(
                "<path:object_id>/void-coupon/<int:coupon_id>/",
                self.admin_site.admin_view(self.void_coupon_view),
                name="accounts_user_void_coupon",
            )
        ]
        return urls + super().get_urls()

    def void_coupon_view(self, request, object_id, coupon_id):
        """Void one of the member's coupons with a reason (coupons.services.void_coupon), audited."""
        from coupons.models import Coupon

        if not request.user.has_perm("accounts.void_coupon"):
            raise PermissionDenied
        coupon = get_object_or_404(Coupon.objects.select_related("owner"), pk=coupon_id, owner_id=object_id)
        back = reverse("admin:accounts_user_change", args=[coupon.owner_id])
        if request.method == "POST":
            form = ReasonForm(request.POST)
            if form.is_valid():
                done, refused = perform_and_audit(
                    request=request,
                    objects=[coupon],
                    action="coupon.void",
                    perform=lambda obj, data: _void(obj, data, actor=request.user),
                    data=form.cleaned_data,
                )
                for text in refused:
                    self.message_user(request, text, messages.WARNING)
                if done:
                    self.message_user(request, f"Coupon {coupon} voided.", messages.SUCCESS)
                return HttpResponseRedirect(back)
        else:
            form = ReasonForm()
        context = {
            **self.admin_site.each_context(request),
            "title": "Void a coupon",
            "intro": f"{coupon.owner}: {coupon} — {coupon.get_status_display()}, expires {coupon.expires_at:%Y-%m-%d}.",
            "opts": self.model._meta,
            "objects": [coupon],
            "form": form,
            "submit_label": "Void coupon",
            "back_url": back,
        }
        return TemplateResponse(request, "admin/staff_action_form.html", context)

    # --- status actions: flag_member permission, a reason, the accounts services, an audit row ---

    def has_flag_permission(self, request) -> bool:
        return request.user.has_perm("accounts.flag_member")

    def _status_action(self, request, queryset, *, action, title, perform, form_class=None, done):
        return run_staff_action(
            self,
            request,
            queryset,
            action=action,
            title=title,
            perform=perform,
            form_class=form_class or ReasonForm,
            submit_label=title,
            done_message=f"{{count}} account(s) {done}.",
        )

    @admin.action(permissions=["flag"], description="Flag for review…")
    def flag_for_review(self, request, queryset):
        def perform(user, data):
            if user.is_suspended:
                raise ActionRefused("suspended; a suspension is never softened to a flag")
            services.flag_account(user=user, reason_code=data["reason_code"], actor=request.user)
            return {"status": "flagged", "reason_code": data["reason_code"]}

        return self._status_action(
            request,
            queryset,
            action="member.flag",
            title="Flag",
            perform=perform,
            form_class=StatusReasonForm,
            done="flagged",
        )

    @admin.action(permissions=["flag"], description="Clear flag…")
    def clear_flags(self, request, queryset):
        def perform(user, data):
            if not user.is_flagged:
                raise ActionRefused("not flagged")
            previous = user.status_reason
            services.clear_flag(user=user, actor=request.user)
            return {"status": "active", "previous_reason_code": previous}

        return self._status_action(
            request, queryset, action="member.clear_flag", title="Clear flag", perform=perform, done="cleared"
        )

    @admin.action(permissions=["flag"], description="Suspend…")
    def suspend(self, request, queryset):
        def perform(user, data):
            services.suspend_account(user=user, reason_code=data["reason_code"], actor=request.user)
            return {"status": "suspended", "reason_code": data["reason_code"]}

        return self._status_action(
            request,
            queryset,
            action="member.suspend",
            title="Suspend",
            perform=perform,
            form_class=StatusReasonForm,
            done="suspended",
        )

    @admin.action(permissions=["flag"], description="Reactivate…")
    def reactivate_accounts(self, request, queryset):
        def perform(user, data):
            if user.status == AccountStatus.ACTIVE:
                raise ActionRefused("already active")
            previous = user.status
            services.reactivate(user=user, actor=request.user)
            return {"status": "active", "previous_status": previous}

        return self._status_action(
            request, queryset, action="member.reactivate", title="Reactivate", perform=perform, done="reactivated"
        )


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
    actions = ["resend_notices"]

    def has_resend_permission(self, request) -> bool:
        return request.user.has_perm("accounts.resend_notice")

    @admin.action(permissions=["resend"], description="Resend notice (inbox and e-mail)…")
    def resend_notices(self, request, queryset):
        from uuid import uuid4

        from accounts.notify import notify

        def perform(notice, data):
            # A fresh dedupe key: the original key already says "sent once".
            copy = notify(
                user=notice.user,
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
class CoinLedgerAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Append-only: every coin movement with its balance after it."""

    list_display = ["created_at", "member", "delta", "balance_after", "kind", "reason"]
    list_filter = ["kind"]
    list_select_related = ["member"]
    search_fields = ["member__email", "idempotency_key"]
    date_hierarchy = "created_at"

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]


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
