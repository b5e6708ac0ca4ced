from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.template.response import TemplateResponse

from flows import orders as flows
from lib.admin import ReadOnlyAdminMixin
from orders.models import Order, OrderEvent, OrderLine, PaymentCard, Product, RefundStatus, Store, StoreFollow


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

    @admin.action(description="Approve refund requests (refund the order)")
    def approve_refund_requests(self, request, queryset) -> None:
        done, skipped = 0, 0
        for order in queryset.filter(refund_status=RefundStatus.REQUESTED):
            flows.approve_refund(order=order, actor=request.user, note=f"Approved by {request.user}")
            done += 1
        skipped = queryset.count() - done
        self.message_user(request, f"{done} refund(s) approved.", messages.SUCCESS)
        if skipped:
            self.message_user(request, f"{skipped} order(s) skipped: no refund request waiting.", messages.WARNING)

    @admin.action(description="Reject refund requests (with a reason)")
    def reject_refund_requests(self, request, queryset):
        reason = request.POST.get("reason", "").strip()
        if "apply" not in request.POST or not reason:
            return TemplateResponse(
                request,
                "admin/orders/order/reject_refund.html",
                {
                    **self.admin_site.each_context(request),
                    "title": "Reject refund requests",
                    "orders": queryset,
                    "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
                    "missing_reason": "apply" in request.POST,
                    "opts": self.model._meta,
                },
            )
        done = 0
        for order in queryset:
            if order.has_pending_refund_request:
                flows.reject_refund(order=order, actor=request.user, note=reason)
                done += 1
        self.message_user(request, f"{done} refund request(s) rejected.", messages.SUCCESS)
        return None


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
