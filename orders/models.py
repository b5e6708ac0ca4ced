"""Stores, products and orders with the time of every transition."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class Store(models.Model):
    """A seller on the marketplace."""

    name = models.CharField(max_length=120)
    slug = models.SlugField(unique=True)
    # Automatic seller discount (docs/program-rules.md section 5, step 2): buy at least N items of
    # this store, get P% off them. Both empty: no automatic discount.
    auto_discount_min_quantity = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Buy at least this many items of the store…"
    )
    auto_discount_percent = models.DecimalField(
        max_digits=5, decimal_places=2, null=True, blank=True, help_text="…and get this percentage off them."
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(auto_discount_min_quantity__isnull=True) & Q(auto_discount_percent__isnull=True))
                | (
                    # isnull=False spelled out: a CHECK on NULL > 0 is unknown, which passes.
                    Q(auto_discount_min_quantity__isnull=False)
                    & Q(auto_discount_percent__isnull=False)
                    & Q(auto_discount_min_quantity__gte=1)
                    & Q(auto_discount_percent__gt=0)
                    & Q(auto_discount_percent__lte=100)
                ),
                name="store_auto_discount_valid",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def has_auto_discount(self) -> bool:
        return self.auto_discount_min_quantity is not None and self.auto_discount_percent is not None

    @property
    def auto_discount_label(self) -> str:
        """'Bright Kitchen: buy 2, get 10% off' (empty without a discount)."""
        min_quantity, percent = self.auto_discount_min_quantity, self.auto_discount_percent
        if min_quantity is None or percent is None:  # no automatic discount (has_auto_discount)
            return ""
        return f"{self.name}: buy {min_quantity}, get {percent.normalize():f}% off"


class Product(models.Model):
    store = models.ForeignKey(Store, on_delete=models.PROTECT, related_name="products")
    name = models.CharField(max_length=200)
    price = models.DecimalField(max_digits=10, decimal_places=2)
    sale_price = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)
    currency = models.CharField(max_length=3, default="USD")
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["store__name", "name"]
        constraints = [
            models.CheckConstraint(condition=Q(price__gt=0), name="product_price_positive"),
            models.CheckConstraint(
                condition=Q(sale_price__isnull=True) | (Q(sale_price__gt=0) & Q(sale_price__lte=models.F("price"))),
                name="product_sale_price_valid",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def unit_price(self):
        """What one item costs today (the sale price when there is one)."""
        return self.sale_price if self.sale_price is not None else self.price

    @property
    def tint(self) -> int:
        """Placeholder image colour (.tint-1..6), stable per store."""
        return (self.store_id or 0) % 6 + 1


class PaymentCard(models.Model):
    """A card as the payment provider's opaque fingerprint: never a card number."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="payment_cards")
    fingerprint = models.CharField(max_length=64, db_index=True)
    label = models.CharField(max_length=40, blank=True, help_text="e.g. 'Visa ending 4242' (demo).")
    first_used_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "fingerprint"], name="unique_user_card")]

    def __str__(self) -> str:
        return self.label or f"card {self.fingerprint[:8]}…"


class OrderState(models.TextChoices):
    PLACED = "placed", "Placed"
    PAID = "paid", "Paid"
    SHIPPED = "shipped", "Shipped"
    COMPLETED = "completed", "Completed"
    CANCELED = "canceled", "Canceled"
    REFUNDED = "refunded", "Refunded"


class RefundStatus(models.TextChoices):
    """A member's refund request (an external order.refunded event is a refund, not a request)."""

    NONE = "", "No request"
    REQUESTED = "requested", "Waiting for approval"
    AUTO_APPROVED = "auto_approved", "Approved at once (level benefit)"
    APPROVED = "approved", "Approved by staff"
    REJECTED = "rejected", "Rejected by staff"


class Order(models.Model):
    buyer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="orders")
    # Id in the external shop (order events refer to it); demo orders get one too.
    external_id = models.CharField(max_length=64, unique=True)
    state = models.CharField(max_length=10, choices=OrderState.choices, default=OrderState.PLACED)
    # The account's first order is the one the referral program looks at.
    is_first = models.BooleanField(default=False)
    card = models.ForeignKey(PaymentCard, null=True, blank=True, on_delete=models.PROTECT, related_name="orders")
    device = models.ForeignKey(
        "accounts.Device", null=True, blank=True, on_delete=models.SET_NULL, related_name="orders"
    )
    currency = models.CharField(max_length=3, default="USD")
    subtotal = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    discount_total = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    coins_used = models.PositiveIntegerField(default=0)
    total = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    # The priced breakdown shown at checkout, kept for support.
    pricing = models.JSONField(default=dict, blank=True)

    placed_at = models.DateTimeField(default=timezone.now)
    paid_at = models.DateTimeField(null=True, blank=True)
    shipped_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    canceled_at = models.DateTimeField(null=True, blank=True)
    refunded_at = models.DateTimeField(null=True, blank=True)
    # The member's refund request and its decision (orders.services.request_refund / approve_refund).
    refund_status = models.CharField(max_length=14, choices=RefundStatus.choices, default="", blank=True)
    refund_requested_at = models.DateTimeField(null=True, blank=True)
    refund_decided_at = models.DateTimeField(null=True, blank=True)
    refund_decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    refund_note = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-placed_at"]
        constraints = [
            models.UniqueConstraint(fields=["buyer"], condition=Q(is_first=True), name="one_first_order_per_buyer"),
            models.CheckConstraint(condition=Q(total__gte=0), name="order_total_non_negative"),
        ]
        indexes = [
            models.Index(fields=["buyer", "-placed_at"], name="order_buyer_idx"),
            models.Index(fields=["buyer", "state", "completed_at"], name="order_level_points_idx"),
        ]
        # Refund decisions belong to one staff role (README, staff roles; support/migrations/0003).
        permissions = [("decide_refund", "Can approve or reject a member's refund request")]

    def __str__(self) -> str:
        return f"Order {self.external_id}"

    @property
    def has_pending_refund_request(self) -> bool:
        return self.refund_status == RefundStatus.REQUESTED and self.refunded_at is None

    @property
    def state_tone(self) -> str:
        """Badge tone of the state (docs/frontend.md: badge-success|warning|danger|info|muted)."""
        return {"completed": "success", "refunded": "warning", "canceled": "muted"}.get(self.state, "info")


class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey(Product, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    store = models.ForeignKey(Store, on_delete=models.PROTECT, related_name="+")
    name = models.CharField(max_length=200)
    quantity = models.PositiveIntegerField(default=1)
    unit_price = models.DecimalField(max_digits=10, decimal_places=2, help_text="List price.")
    sale_price = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(quantity__gte=1), name="order_line_quantity_positive")]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.name}"

    @property
    def paid_unit_price(self):
        return self.sale_price if self.sale_price is not None else self.unit_price

    @property
    def line_total(self):
        return self.paid_unit_price * self.quantity


class OrderEvent(models.Model):
    """Inbox of order events from the shop: one row per event id, whatever the retries."""

    event_id = models.CharField(max_length=100, unique=True)
    type = models.CharField(max_length=30)
    order_external_id = models.CharField(max_length=64, db_index=True)
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField(default=timezone.now)
    payload = models.JSONField(default=dict)
    processed_at = models.DateTimeField(null=True, blank=True)
    result = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"{self.type} {self.order_external_id} ({self.event_id})"


class StoreFollow(models.Model):
    """A member following a store: store coupons for followers are theirs to collect (docs/program-rules.md
    section 4, store coupons)."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="follows")
    member = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="store_follows")
    followed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-followed_at"]
        constraints = [models.UniqueConstraint(fields=["store", "member"], name="one_follow_per_store_member")]

    def __str__(self) -> str:
        return f"{self.member} follows {self.store}"
