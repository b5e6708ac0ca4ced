"""The member page: profile, status actions (flag, clear, suspend, reactivate), voiding a coupon, linked accounts
and the referrer's behaviour. Every change goes through a service and is audited (support.admin.staff_actions)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.safestring import SafeString
from django.utils.translation import gettext, ngettext_lazy
from django.utils.translation import gettext_lazy as _

from accounts import services
from accounts.admin.inlines import (
    CouponOfMemberInline,
    DeviceOfUserInline,
    LedgerOfMemberInline,
    PhoneVerificationInline,
    ReferralMadeInline,
    ReferralReceivedInline,
)
from accounts.admin.member_page import linked_accounts, member_page_context
from accounts.models import AccountStatus, StatusReason, User
from coupons.models import Coupon
from coupons.services import void_coupon
from lib.admin import BigTableAdminMixin
from referrals.admin.panels import render_behaviour
from support.admin.staff_actions import (
    ACTION_PERMISSION,
    ActionRefused,
    ReasonForm,
    perform_and_audit,
    run_object_action,
    run_staff_action,
    staff_view,
)


class StatusReasonForm(ReasonForm):
    reason_code = forms.ChoiceField(
        label=_("Reason code"),
        choices=StatusReason.choices,
        initial=StatusReason.STAFF_REVIEW,
        help_text=_("For staff only; the member only sees the standard security message."),
    )
    field_order = ["reason_code", "reason"]


def _void(coupon, data: dict, *, actor) -> dict:
    if not coupon.is_voidable:
        raise ActionRefused(
            gettext("the coupon is %(status)s, not active") % {"status": coupon.get_status_display().lower()}
        )
    void_coupon(coupon=coupon, actor=actor, reason=data["reason"])
    return {"owner_id": coupon.owner_id, "value": str(coupon.value), "currency": coupon.currency}


class StatusReasonFilter(admin.SimpleListFilter):
    """The reasons of flagged or suspended accounts (read through the status index), not a DISTINCT over every
    member as the default filter of a plain text field would run."""

    title = _("status reason")
    parameter_name = "status_reason"

    def lookups(self, request, model_admin):
        reasons = (
            User.objects.filter(status__in=[AccountStatus.FLAGGED, AccountStatus.SUSPENDED])
            .exclude(status_reason="")
            .values_list("status_reason", flat=True)
            .distinct()
            .order_by("status_reason")
        )
        return [(reason, reason) for reason in reasons]

    def queryset(self, request, queryset):
        return queryset.filter(status_reason=self.value()) if self.value() else queryset


@admin.register(User)
class UserAdmin(BigTableAdminMixin, BaseUserAdmin):
    ordering = ["-date_joined"]
    list_display = ["email", "first_name", "last_name", "country_name", "status", "status_reason", "phone_verified_at"]
    list_filter = ["status", StatusReasonFilter, "level", "country", "is_staff"]
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
        (_("Profile"), {"fields": ["first_name", "last_name", "country", "language", "time_zone"]}),
        (_("Verification"), {"fields": ["phone", "phone_verified_at", "email_verified_at"]}),
        (_("Program status"), {"fields": ["status", "status_reason", "status_changed_at", "coins"]}),
        (_("Level"), {"fields": ["level", "level_points", "level_updated_at", "points_expire_at"]}),
        (_("Permissions"), {"fields": ["is_active", "is_staff", "is_superuser", "groups", "user_permissions"]}),
        (_("Dates"), {"fields": ["last_login", "date_joined"]}),
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
    search_help_text = _("E-mail, phone, name, referral code or order id.")

    @admin.display(description=User._meta.get_field("country").verbose_name, ordering="country")
    def country_name(self, obj: User) -> str:
        """The country's name, as the plain column showed it: that column looked the code up in the field's
        flattened choices, which django-countries rebuilds (about 250 countries) for every row."""
        return obj.country.name

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
            fieldsets.append(
                (_("Linked accounts (sharing a device or a payment card)"), {"fields": ["linked_accounts"]})
            )
        if obj is not None and request.user.has_perm("referrals.view_referral"):
            fieldsets.append((_("Behaviour (friends invited by this member)"), {"fields": ["behaviour"]}))
        return fieldsets

    def get_readonly_fields(self, request, obj=None):
        return [*super().get_readonly_fields(request, obj), "linked_accounts", "behaviour"]

    @admin.display(description=_("behaviour"))
    def behaviour(self, obj: User) -> SafeString:
        return render_behaviour(obj)

    @admin.display(description=_("linked accounts"))
    def linked_accounts(self, obj: User) -> SafeString:
        return SafeString(
            render_to_string("admin/accounts/linked_accounts.html", {"accounts": linked_accounts(member=obj)})
        )

    # The status actions the member page offers (each still checks its own declared permission).
    object_actions = ("flag_for_review", "clear_flags", "suspend", "reactivate_accounts")

    def get_urls(self):
        urls = [
            path(
                "<path:object_id>/void-coupon/<int:coupon_id>/",
                self.admin_site.admin_view(self.void_coupon_view),
                name="accounts_user_void_coupon",
            ),
            path(
                "<path:object_id>/act/<str:action>/",
                self.admin_site.admin_view(self.member_action_view),
                name="accounts_user_act",
            ),
        ]
        return urls + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        """The member page made for support work; superusers open Django's account form with `?edit=1`."""
        if request.user.is_superuser and (request.method == "POST" or "edit" in request.GET):
            return super().change_view(request, object_id, form_url, extra_context)
        if request.method not in ("GET", "HEAD"):
            raise PermissionDenied
        member = self.get_object(request, unquote(object_id))
        if member is None:
            raise Http404
        if not self.has_view_permission(request, member):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            **member_page_context(request=request, member=member, now=timezone.now()),
            "title": member.email,
            "subtitle": None,
            "opts": self.opts,
            "original": member,
            "has_view_permission": True,
            # The page needs its width for the referral timelines: no app menu beside it.
            "is_nav_sidebar_enabled": False,
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/accounts/member_page.html", context)

    @staff_view(permission=ACTION_PERMISSION, changes_state=True)
    def member_action_view(self, request, object_id, action):
        """A status action (flag, clear, suspend, reactivate) on this member from their page: reason, audit row."""
        back = reverse("admin:accounts_user_change", args=[object_id])
        return run_object_action(self, request, object_id=object_id, action=action, back_url=back)

    @staff_view(permission="accounts.void_coupon", changes_state=True)
    def void_coupon_view(self, request, object_id, coupon_id):
        """Void one of the member's coupons with a reason (coupons.services.void_coupon), audited."""
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
                    self.message_user(
                        request, gettext("Coupon %(coupon)s voided.") % {"coupon": coupon}, messages.SUCCESS
                    )
                return HttpResponseRedirect(back)
        else:
            form = ReasonForm()
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Void a coupon"),
            "intro": gettext("%(owner)s: %(coupon)s — %(status)s, expires %(date)s.")
            % {
                "owner": coupon.owner,
                "coupon": coupon,
                "status": coupon.get_status_display(),
                "date": f"{coupon.expires_at:%Y-%m-%d}",
            },
            "opts": self.model._meta,
            "objects": [coupon],
            "form": form,
            "submit_label": gettext("Void coupon"),
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
            done_message=done,
        )

    @admin.action(permissions=["flag"], description=_("Flag for review…"))
    def flag_for_review(self, request, queryset):
        def perform(user, data):
            if user.is_suspended:
                raise ActionRefused(gettext("suspended; a suspension is never softened to a flag"))
            services.flag_account(member=user, reason_code=data["reason_code"], actor=request.user)
            return {"status": "flagged", "reason_code": data["reason_code"]}

        return self._status_action(
            request,
            queryset,
            action="member.flag",
            title=_("Flag"),
            perform=perform,
            form_class=StatusReasonForm,
            done=ngettext_lazy("%(count)s account flagged.", "%(count)s accounts flagged.", "count"),
        )

    @admin.action(permissions=["flag"], description=_("Clear flag…"))
    def clear_flags(self, request, queryset):
        def perform(user, data):
            if not user.is_flagged:
                raise ActionRefused(gettext("not flagged"))
            previous = user.status_reason
            services.clear_flag(member=user, actor=request.user)
            return {"status": "active", "previous_reason_code": previous}

        return self._status_action(
            request,
            queryset,
            action="member.clear_flag",
            title=_("Clear flag"),
            perform=perform,
            done=ngettext_lazy("%(count)s account cleared.", "%(count)s accounts cleared.", "count"),
        )

    @admin.action(permissions=["flag"], description=_("Suspend…"))
    def suspend(self, request, queryset):
        def perform(user, data):
            services.suspend_account(member=user, reason_code=data["reason_code"], actor=request.user)
            return {"status": "suspended", "reason_code": data["reason_code"]}

        return self._status_action(
            request,
            queryset,
            action="member.suspend",
            title=_("Suspend"),
            perform=perform,
            form_class=StatusReasonForm,
            done=ngettext_lazy("%(count)s account suspended.", "%(count)s accounts suspended.", "count"),
        )

    @admin.action(permissions=["flag"], description=_("Reactivate…"))
    def reactivate_accounts(self, request, queryset):
        def perform(user, data):
            if user.status == AccountStatus.ACTIVE:
                raise ActionRefused(gettext("already active"))
            previous = user.status
            services.reactivate(member=user, actor=request.user)
            return {"status": "active", "previous_status": previous}

        return self._status_action(
            request,
            queryset,
            action="member.reactivate",
            title=_("Reactivate"),
            perform=perform,
            done=ngettext_lazy("%(count)s account reactivated.", "%(count)s accounts reactivated.", "count"),
        )
