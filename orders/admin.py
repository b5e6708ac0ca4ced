from django import forms
from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from flows import orders as flows
from lib.admin import ReadOnlyAdminMixin
from orders.models import Order, OrderEvent, OrderLine, PaymentCard, Product, Store, StoreFollow
from support.admin.staff_actions import ActionRefused, ReasonForm, run_staff_action


class RefundRejectForm(ReasonForm):
    reason = forms.CharField(
        label=_("Reason (shown to the member)"),
        max_length=300,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=_("Kept in the audit log and shown on the member's order page."),
    )


@admin.register(Store)
class StoreAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "auto_discount_min_quantity", "auto_discount_percent"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["name", "store", "price", "sale_price", "currency", "is_active"]
    list_filter = ["store", "is_active"]
    search_fields = ["name"]
    list_select_related = ["store"]


class OrderLineInline(admin.TabularInline):
    model = OrderLine
    extra = 0
    can_delete = False
    readonly_fields = ["product", "store", "name", "quantity", "unit_price", "sale_price"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    """Read-only: orders change through their lifecycle services (or shop events), never by hand."""

    list_display = [
        "external_id",
        "buyer",
        "state",
        "refund_status",
        "is_first",
        "total",
        "currency",
        "placed_at",
        "completed_at",
    ]
    list_filter = ["state", "refund_status", "is_first"]
    actions = ["approve_refund_requests", "reject_refund_requests"]
    search_fields = ["external_id", "buyer__email"]
    list_select_related = ["buyer"]
    date_hierarchy = "placed_at"
    inlines = [OrderLineInline]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_decide_refund_permission(self, request) -> bool:
        return request.user.has_perm("orders.decide_refund")

    @admin.action(permissions=["decide_refund"], description=_("Approve refund requests (refund the order)…"))
    def approve_refund_requests(self, request, queryset):
        def perform(order: Order, data: dict) -> dict:
            if not order.has_pending_refund_request:
                raise ActionRefused(_("no refund request waiting"))
            flows.approve_refund(order=order, actor=request.user, note=data["reason"])
            return {"total": str(order.total), "currency": order.currency}

        return run_staff_action(
            self,
            request,
            queryset,
            action="order.approve_refund",
            title=_("Approve refund requests"),
            intro=_("Each order is refunded; the member's level is recomputed."),
            perform=perform,
            submit_label=_("Approve"),
            done_message=_("{count} refund(s) approved."),
        )

    @admin.action(permissions=["decide_refund"], description=_("Reject refund requests (with a reason)…"))
    def reject_refund_requests(self, request, queryset):
        def perform(order: Order, data: dict) -> dict:
            if not order.has_pending_refund_request:
                raise ActionRefused(_("no refund request waiting"))
            flows.reject_refund(order=order, actor=request.user, note=data["reason"])
            return {"total": str(order.total), "currency": order.currency}

        return run_staff_action(
            self,
            request,
            queryset,
            action="order.reject_refund",
            title=_("Reject refund requests"),
            intro=_("The member sees your reason on the order page and may ask again."),
            form_class=RefundRejectForm,
            perform=perform,
            submit_label=_("Reject"),
            done_message=_("{count} refund request(s) rejected."),
        )


@admin.register(PaymentCard)
class PaymentCardAdmin(admin.ModelAdmin):
    list_display = ["label", "user", "fingerprint", "first_used_at"]
    search_fields = ["fingerprint", "user__email"]
    list_select_related = ["user"]
    readonly_fields = ["user", "fingerprint", "label", "first_used_at"]


@admin.register(OrderEvent)
class OrderEventAdmin(admin.ModelAdmin):
    """The inbox of shop events, as received (read-only)."""

    list_display = ["event_id", "type", "order_external_id", "occurred_at", "received_at", "result"]
    list_filter = ["type"]
    search_fields = ["event_id", "order_external_id"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(StoreFollow)
class StoreFollowAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Who follows which store (members follow and unfollow on the store page)."""

    list_display = ["followed_at", "store", "member"]
    list_filter = ["store"]
    list_select_related = ["store", "member"]
    search_fields = ["member__email", "store__name"]
