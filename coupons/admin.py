"""Staff screens for the wallet: campaigns (promo codes), coupons (read-only money), the coupon ledger, coins
(the coin ledger and check-ins; all read-only).

Coupons are never edited by hand: they are issued through the "Issue a coupon" form,
which calls coupons.services.manual (region ceiling, never to oneself, four eyes above the threshold) with the
staff member as actor and a required reason, audited.
"""

from __future__ import annotations

import uuid

from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext as _

from accounts.models import Region
from coupons.forms import CampaignAdminForm, IssueCouponForm
from coupons.models import (
    Campaign,
    CheckIn,
    CoinLedger,
    Coupon,
    LedgerEntry,
    ManualCouponRequest,
    PromoRedemption,
    StoreOffer,
    StoreOfferClaim,
)
from coupons.services.manual import (
    ManualCouponDraft,
    approve_manual_coupon,
    issue_manual_coupon,
    reject_manual_coupon,
)
from lib.admin import BigTableAdminMixin, ReadOnlyAdminMixin
from support.admin.staff_actions import OptionalNoteForm, perform_and_audit, run_staff_action, staff_view


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    form = CampaignAdminForm
    list_display = ["name", "kind", "code", "value", "min_spend", "used_count", "usage_limit", "starts_at", "ends_at"]
    list_display += ["is_active"]
    list_filter = ["kind", "is_active", "currency"]
    search_fields = ["name", "code"]
    list_select_related = ["store"]
    readonly_fields = ["used_count"]


class LedgerInline(admin.TabularInline):
    model = LedgerEntry
    fields = ["created_at", "event", "amount", "currency", "actor", "reason", "order"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class CurrencyFilter(admin.SimpleListFilter):
    """The program's currencies (one per region), not a DISTINCT over every coupon."""

    title = "currency"
    parameter_name = "currency"

    def lookups(self, request, model_admin):
        currencies = Region.objects.values_list("currency", flat=True).distinct().order_by("currency")
        return [(currency, currency) for currency in currencies]

    def queryset(self, request, queryset):
        return queryset.filter(currency=self.value()) if self.value() else queryset


@admin.register(Coupon)
class CouponAdmin(BigTableAdminMixin, admin.ModelAdmin):
    list_display = ["id", "owner", "kind", "source", "title", "value", "min_spend", "currency", "status"]
    list_display += ["issued_at", "expires_at", "store"]
    list_filter = ["status", "kind", "source", CurrencyFilter, "issued_at"]
    search_fields = ["owner__email", "title", "id"]
    list_select_related = ["owner", "store"]
    inlines = [LedgerInline]
    # Money and status change only through services (issue, use, return, expire, void), never by editing.
    readonly_fields = [
        "owner",
        "kind",
        "source",
        "title",
        "store",
        "campaign",
        "referral",
        "welcome_for",
        "value",
        "currency",
        "min_spend",
        "issued_at",
        "expires_at",
        "status",
        "used_at",
        "used_order",
        "voided_at",
        "expired_at",
        "reminder_sent_at",
    ]

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_urls(self):
        urls = super().get_urls()
        issue = path("issue/", self.admin_site.admin_view(self.issue_view), name="coupons_coupon_issue")
        return [issue, *urls]

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context=None) -> HttpResponse:
        # "Add coupon" leads to the audited issue form.
        return redirect("admin:coupons_coupon_issue")

    @staff_view(permission="coupons.add_coupon", changes_state=True)
    def issue_view(self, request: HttpRequest) -> HttpResponse:
        """Issue one coupon by hand within the region's bounds (coupons.services.manual), audited; above the
        approval threshold it waits for a second staff member."""
        if request.method == "POST":
            form = IssueCouponForm(request.POST)
            if form.is_valid():
                data = form.cleaned_data
                draft = ManualCouponDraft(
                    member=form.member,
                    kind=data["kind"],
                    title=data["title"],
                    value=data["value"],
                    min_spend=data["min_spend"],
                    currency=data["currency"],
                    valid_days=data["valid_days"],
                    store=data["store"],
                    reason=data["reason"],
                    token=data["token"],
                )
                results: list[Coupon | ManualCouponRequest] = []

                def perform(member, cleaned: dict) -> dict:
                    result = issue_manual_coupon(actor=request.user, draft=draft)
                    results.append(result)
                    waiting = isinstance(result, ManualCouponRequest)
                    return {
                        "value": str(draft.value),
                        "currency": draft.currency,
                        "coupon_id": None if waiting else result.pk,
                        "approval_request_id": result.pk if waiting else None,
                    }

                _done, refused = perform_and_audit(
                    request=request,
                    objects=[form.member],
                    action="coupon.issue_manual",
                    perform=perform,
                    data=data,
                )
                if not refused:
                    result = results[0]
                    if isinstance(result, ManualCouponRequest):
                        messages.success(
                            request,
                            _(
                                "Above the approval threshold: the coupon exists once a second staff member approves "
                                "request #%(id)s."
                            )
                            % {"id": result.pk},
                        )
                        return HttpResponseRedirect(reverse("admin:coupons_manualcouponrequest_changelist"))
                    messages.success(
                        request,
                        _("Issued %(currency)s %(value)s coupon #%(id)s to %(email)s.")
                        % {"currency": result.currency, "value": result.value, "id": result.pk, "email": form.member},
                    )
                    return HttpResponseRedirect(reverse("admin:coupons_coupon_change", args=[result.pk]))
                for text in refused:
                    form.add_error(None, text)
        else:
            form = IssueCouponForm(initial={"token": uuid.uuid4().hex, "member_email": request.GET.get("email", "")})
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Issue a coupon"),
            "form": form,
        }
        return TemplateResponse(request, "admin/coupons/coupon/issue.html", context)


@admin.register(ManualCouponRequest)
class ManualCouponRequestAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Manual coupons above the region's threshold, waiting for a second staff member (four eyes)."""

    list_display = ["created_at", "member", "value", "currency", "requested_by", "status", "decided_by", "coupon"]
    list_filter = ["status", "currency"]
    list_select_related = ["member", "requested_by", "decided_by"]
    search_fields = ["member__email", "requested_by__email"]
    actions = ["approve_requests", "reject_requests"]

    def has_approve_permission(self, request) -> bool:
        return request.user.has_perm("coupons.approve_manual_coupon")

    @admin.action(permissions=["approve"], description=_("Approve (issue the coupon)…"))
    def approve_requests(self, request, queryset):
        def perform(obj: ManualCouponRequest, data: dict) -> dict:
            coupon = approve_manual_coupon(request_id=obj.pk, approver=request.user, note=data["reason"])
            return {"coupon_id": coupon.pk, "requested_by": obj.requested_by_id, "value": str(coupon.value)}

        return run_staff_action(
            self,
            request,
            queryset,
            action="coupon.approve_manual",
            title=_("Approve manual coupons"),
            intro=_("Each coupon is issued now to its member. You cannot approve your own request."),
            form_class=OptionalNoteForm,
            perform=perform,
            submit_label=_("Approve"),
            done_message=_("{count} coupon(s) issued."),
        )

    @admin.action(permissions=["approve"], description=_("Reject…"))
    def reject_requests(self, request, queryset):
        def perform(obj: ManualCouponRequest, data: dict) -> dict:
            reject_manual_coupon(request_id=obj.pk, decider=request.user, note=data["reason"])
            return {"requested_by": obj.requested_by_id, "value": str(obj.value)}

        return run_staff_action(
            self,
            request,
            queryset,
            action="coupon.reject_manual",
            title=_("Reject manual coupons"),
            perform=perform,
            submit_label=_("Reject"),
            done_message=_("{count} request(s) rejected."),
        )


@admin.register(LedgerEntry)
class LedgerEntryAdmin(BigTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """Append-only: staff can read and search, never add, change or delete."""

    list_display = ["created_at", "event", "member", "coupon", "amount", "currency", "actor", "reason", "order"]
    list_filter = ["event", CurrencyFilter, "created_at"]
    search_fields = ["member__email", "idempotency_key", "reason", "coupon__id"]
    list_select_related = ["member", "coupon", "actor", "order"]


@admin.register(PromoRedemption)
class PromoRedemptionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["created_at", "campaign", "member", "order", "amount", "released_at"]
    list_filter = ["campaign"]
    search_fields = ["member__email", "campaign__code"]
    list_select_related = ["campaign", "member", "order"]


@admin.register(CoinLedger)
class CoinLedgerAdmin(BigTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """Append-only: every coin movement (checkout spends and returns included) with its balance after it."""

    list_display = ["created_at", "member", "delta", "balance_after", "kind", "reason", "order"]
    list_filter = ["kind", "created_at"]
    list_select_related = ["member", "order"]
    search_fields = ["member__email", "idempotency_key"]

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


class StoreOfferClaimInline(admin.TabularInline):
    model = StoreOfferClaim
    fields = ["claimed_at", "member", "coupon"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(StoreOffer)
class StoreOfferAdmin(admin.ModelAdmin):
    """Store coupons a store offers on its page: program managers set audience, amount and limits; the
    collected count moves only when members collect (coupons.services.store_offers)."""

    list_display = ["store", "audience", "value", "min_spend", "currency", "collected_count", "total_limit"]
    list_display += ["starts_at", "ends_at", "is_active"]
    list_filter = ["audience", "is_active", "store"]
    search_fields = ["store__name"]
    list_select_related = ["store"]
    readonly_fields = ["collected_count"]
    inlines = [StoreOfferClaimInline]

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # collected coupons point at it: end an offer by deactivating it


@admin.register(StoreOfferClaim)
class StoreOfferClaimAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["claimed_at", "offer", "member", "coupon"]
    list_select_related = ["offer__store", "member", "coupon"]
    search_fields = ["member__email", "offer__store__name"]
