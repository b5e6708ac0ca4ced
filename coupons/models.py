"""The member's wallet: coupons, campaigns, the append-only coupon ledger, coins (check-ins and the coin ledger).

The coin balance itself stays on the member (`accounts.User.coins`); every change of it is a `CoinLedger` row
written by `coupons.coins.move_coins` (docs/program-rules.md section 8).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from coupons.titles import system_title
from lib.appendonly import AppendOnlyManager, AppendOnlyMixin

# A usable coupon this close to its expiry is flagged: the wallet's warning badge and the reminder notice
# (`coupons.services.lifecycle.send_expiry_reminders`) both read this one value.
EXPIRY_WARNING = timedelta(days=3)


class CouponKind(models.TextChoices):
    PLATFORM = "platform", _("Platform")
    SELECT = "select", _("Select")
    STORE = "store", _("Store")
    PROMO = "promo", _("Promo code")


class CouponSource(models.TextChoices):
    REFERRAL = "referral", _("Referral reward")
    WELCOME = "welcome", _("Welcome package")
    EVENT = "event", _("Event campaign")
    ANNIVERSARY = "anniversary", _("Anniversary")
    COINS = "coins", _("Coins exchange")
    MANUAL = "manual", _("Issued by staff")
    STORE = "store", _("Store")
    MILESTONE = "milestone", _("Referral milestone")


class CouponStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    USED = "used", _("Used")
    EXPIRED = "expired", _("Expired")
    VOIDED = "voided", _("Voided")


class Campaign(models.Model):
    """An event or promo-code campaign. A promo code has a code and usage limits."""

    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=10, choices=CouponKind.choices, default=CouponKind.PLATFORM)
    code = models.CharField(max_length=32, null=True, blank=True, unique=True, help_text=_("Promo code (upper case)."))
    store = models.ForeignKey("orders.Store", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    value = models.DecimalField(max_digits=10, decimal_places=2)
    min_spend = models.DecimalField(max_digits=10, decimal_places=2, default=0)
    currency = models.CharField(max_length=3, default="USD")
    valid_days = models.PositiveSmallIntegerField(default=30)
    starts_at = models.DateTimeField(default=timezone.now)
    ends_at = models.DateTimeField(null=True, blank=True)
    usage_limit = models.PositiveIntegerField(null=True, blank=True, help_text=_("Total uses allowed (promo codes)."))
    per_member_limit = models.PositiveIntegerField(default=1)
    used_count = models.PositiveIntegerField(default=0)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["-starts_at"]
        constraints = [
            models.CheckConstraint(condition=Q(value__gt=0), name="campaign_value_positive"),
            models.CheckConstraint(
                condition=Q(usage_limit__isnull=True) | Q(used_count__lte=models.F("usage_limit")),
                name="campaign_usage_within_limit",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        # Promo codes are case-insensitive: stored upper case, so the unique index covers every spelling.
        self.code = (self.code or "").strip().upper() or None
        super().save(*args, **kwargs)


class CouponQuerySet(models.QuerySet["Coupon"]):
    def usable(self, *, at: datetime) -> CouponQuerySet:
        """Active and not past expiry, whether or not the expiry job has run."""
        return self.filter(status=CouponStatus.ACTIVE, expires_at__gt=at)

    def voidable(self) -> CouponQuerySet:
        """Coupons staff may void or a reversal may withdraw: the database form of `Coupon.is_voidable`."""
        return self.filter(status=CouponStatus.ACTIVE)


class Coupon(models.Model):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="coupons")
    kind = models.CharField(max_length=10, choices=CouponKind.choices, default=CouponKind.PLATFORM)
    source = models.CharField(max_length=12, choices=CouponSource.choices)
    title = models.CharField(max_length=120, blank=True)
    store = models.ForeignKey("orders.Store", null=True, blank=True, on_delete=models.PROTECT, related_name="coupons")
    campaign = models.ForeignKey(Campaign, null=True, blank=True, on_delete=models.PROTECT, related_name="coupons")
    # One reward per referral, enforced by the database.
    referral = models.OneToOneField(
        "referrals.Referral", null=True, blank=True, on_delete=models.PROTECT, related_name="reward_coupon"
    )
    # Welcome coupons point at the referral that brought the friend (several per referral).
    welcome_for = models.ForeignKey(
        "referrals.Referral", null=True, blank=True, on_delete=models.PROTECT, related_name="welcome_coupons"
    )
    value = models.DecimalField(max_digits=10, decimal_places=2)
    currency = models.CharField(max_length=3, default="USD")
    min_spend = models.DecimalField(max_digits=10, decimal_places=2, default=0)
    issued_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(db_index=True)
    status = models.CharField(max_length=8, choices=CouponStatus.choices, default=CouponStatus.ACTIVE)
    used_at = models.DateTimeField(null=True, blank=True)
    used_order = models.ForeignKey(
        "orders.Order", null=True, blank=True, on_delete=models.PROTECT, related_name="coupons_used"
    )
    voided_at = models.DateTimeField(null=True, blank=True)
    expired_at = models.DateTimeField(null=True, blank=True)
    reminder_sent_at = models.DateTimeField(null=True, blank=True)

    objects = CouponQuerySet.as_manager()

    class Meta:
        ordering = ["expires_at", "id"]
        indexes = [
            models.Index(fields=["owner", "status", "expires_at"], name="coupon_wallet_idx"),
            models.Index(fields=["status", "expires_at"], name="coupon_expiry_idx"),
            # The expiry sweep's claim (coupons.services.lifecycle): only active coupons, in claim order, so a
            # claim never walks past coupons already expired, used or voided.
            models.Index(fields=["expires_at", "id"], name="coupon_active_expiry_idx", condition=Q(status="active")),
            # The staff dashboard: referral coupons' redemption (by status) and the month's cost (by issue date).
            models.Index(fields=["source", "status"], name="coupon_source_status_idx"),
            models.Index(fields=["source", "issued_at"], name="coupon_source_issued_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(value__gt=0), name="coupon_value_positive"),
            models.CheckConstraint(condition=Q(min_spend__gte=0), name="coupon_min_spend_non_negative"),
            models.CheckConstraint(
                condition=Q(expires_at__gt=models.F("issued_at")), name="coupon_expires_after_issue"
            ),
            models.CheckConstraint(condition=~Q(kind="store") | Q(store__isnull=False), name="store_coupon_has_store"),
        ]

    def __str__(self) -> str:
        return f"{self.currency} {self.value} off {self.min_spend} ({self.get_kind_display()})"

    @property
    def display_title(self) -> str:
        """The title a member reads: the portal's own titles in the reader's language, others as stored."""
        return system_title(title=self.title, source=self.source) or self.title or self.get_source_display()

    def is_usable(self, at: datetime) -> bool:
        """Usable now: active and not past its expiry, whatever the expiry job did."""
        return self.status == CouponStatus.ACTIVE and at < self.expires_at

    @property
    def is_voidable(self) -> bool:
        """Only an active coupon can be voided (even past expiry before the sweep); used, expired and voided
        coupons are history. The one precondition of voiding: admin links, staff actions and the service."""
        return self.status == CouponStatus.ACTIVE


class LedgerEntry(AppendOnlyMixin, models.Model):
    """Append-only record of every coupon event, with actor, reason and idempotency key."""

    class Event(models.TextChoices):
        ISSUED = "issued", _("Issued")
        USED = "used", _("Used")
        RETURNED = "returned", _("Returned")
        EXPIRED = "expired", _("Expired")
        VOIDED = "voided", _("Voided")
        REVERSED = "reversed", _("Reversed")
        MANUAL = "manual", _("Manual adjustment")

    coupon = models.ForeignKey(Coupon, null=True, blank=True, on_delete=models.PROTECT, related_name="ledger")
    member = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="coupon_ledger")
    event = models.CharField(max_length=10, choices=Event.choices)
    amount = models.DecimalField(max_digits=12, decimal_places=2, help_text=_("+ value issued, − value removed."))
    currency = models.CharField(max_length=3, default="USD")
    # PROTECT: an append-only row is never rewritten, so a staff member who acted is deactivated, not deleted.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reason = models.CharField(max_length=300, blank=True)
    idempotency_key = models.CharField(max_length=120, unique=True)
    referral = models.ForeignKey(
        "referrals.Referral", null=True, blank=True, on_delete=models.PROTECT, related_name="ledger"
    )
    order = models.ForeignKey("orders.Order", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    objects = AppendOnlyManager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "ledger entries"
        # A member's latest entries (the member page): without it the planner walks the whole ledger by date.
        indexes = [models.Index(fields=["member", "created_at", "id"], name="ledger_member_time_idx")]

    def __str__(self) -> str:
        return f"{self.event} {self.amount} ({self.idempotency_key})"


class StoreOfferAudience(models.TextChoices):
    FOLLOWERS = "followers", _("Followers of the store")
    FIRST_BUYERS = "first_buyers", _("First-time buyers of the store")


class StoreOffer(models.Model):
    """A store coupon a store offers on its page ("Get coupons"): each member collects it once, within the
    offer's total limit (docs/program-rules.md section 4, store coupons)."""

    store = models.ForeignKey("orders.Store", on_delete=models.PROTECT, related_name="offers")
    audience = models.CharField(_("offered to"), max_length=12, choices=StoreOfferAudience.choices)
    value = models.DecimalField(_("value"), max_digits=10, decimal_places=2)
    min_spend = models.DecimalField(
        _("minimum spend"), max_digits=10, decimal_places=2, default=0, help_text=_("On this store's subtotal.")
    )
    currency = models.CharField(_("currency"), max_length=3, default="USD")
    valid_days = models.PositiveSmallIntegerField(_("valid for (days)"), default=30)
    total_limit = models.PositiveIntegerField(
        _("coupons in all"), null=True, blank=True, help_text=_("Empty: no total limit.")
    )
    collected_count = models.PositiveIntegerField(_("collected"), default=0)
    starts_at = models.DateTimeField(_("starts"), default=timezone.now)
    ends_at = models.DateTimeField(_("ends"), null=True, blank=True)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["store__name", "audience", "value"]
        verbose_name = _("store coupon offer")
        verbose_name_plural = _("store coupon offers")
        constraints = [
            models.CheckConstraint(condition=Q(value__gt=0), name="store_offer_value_positive"),
            models.CheckConstraint(condition=Q(min_spend__gte=0), name="store_offer_min_spend_non_negative"),
            models.CheckConstraint(condition=Q(valid_days__gte=1), name="store_offer_valid_days_positive"),
            models.CheckConstraint(
                condition=Q(total_limit__isnull=True) | Q(collected_count__lte=models.F("total_limit")),
                name="store_offer_within_limit",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.store}: {self.currency} {self.value} off {self.min_spend} ({self.get_audience_display()})"

    def is_open(self, at: datetime) -> bool:
        """Collectable now: active, started, not ended, not all collected."""
        return (
            self.is_active
            and self.starts_at <= at
            and (self.ends_at is None or at < self.ends_at)
            and (self.total_limit is None or self.collected_count < self.total_limit)
        )


class StoreOfferClaim(models.Model):
    """One member's collection of one store offer: the unique pair makes it once per member."""

    offer = models.ForeignKey(StoreOffer, on_delete=models.PROTECT, related_name="claims")
    member = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="store_offer_claims")
    coupon = models.OneToOneField(Coupon, on_delete=models.PROTECT, related_name="store_offer_claim")
    claimed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-claimed_at"]
        constraints = [models.UniqueConstraint(fields=["offer", "member"], name="one_claim_per_offer_member")]

    def __str__(self) -> str:
        return f"{self.member} collected offer {self.offer_id}"


class PromoRedemption(models.Model):
    """One use of a promo code on one order (usage as rows; the campaign's used_count is the capped counter)."""

    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="redemptions")
    member = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="promo_redemptions")
    order = models.ForeignKey("orders.Order", on_delete=models.PROTECT, related_name="promo_redemptions")
    amount = models.DecimalField(max_digits=10, decimal_places=2, default=0)
    created_at = models.DateTimeField(default=timezone.now)
    # Set when the order was canceled before payment and the use was given back.
    released_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["campaign", "order"], name="one_promo_use_per_order")]
        indexes = [models.Index(fields=["campaign", "member"], name="promo_member_idx")]

    def __str__(self) -> str:
        return f"{self.campaign.code} on order {self.order_id}"


# --- Coins (docs/program-rules.md section 8) ----------------------------------------------------------------------
# Moved from accounts (migrations accounts 0007 and coupons 0003): the wallet owns coins; the rows kept their ids.


class CheckIn(models.Model):
    """One daily check-in; the unique (user, day) makes it once per day in the member's time zone."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="check_ins")
    day = models.DateField(help_text=_("The member's local date."))
    streak = models.PositiveIntegerField(default=1)
    coins = models.PositiveIntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-day"]
        constraints = [models.UniqueConstraint(fields=["user", "day"], name="one_check_in_per_day")]

    def __str__(self) -> str:
        return f"{self.user} checked in {self.day} (day {self.streak})"


class CoinLedger(AppendOnlyMixin, models.Model):
    """Append-only record of every coin movement, checkout included; balance_after is the balance once it applied.

    The member's rows sum to `User.coins` (tests/coupons/test_coin_ledger.py).
    """

    class Kind(models.TextChoices):
        CHECK_IN = "check_in", _("Daily check-in")
        EXCHANGE = "exchange", _("Exchanged for a coupon")
        CHECKOUT = "checkout", _("Spent at checkout")
        RETURN = "return", _("Returned (order canceled)")
        MANUAL = "manual", _("Manual adjustment")

    member = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="coin_ledger")
    delta = models.IntegerField(help_text=_("+ coins earned, − coins spent."))
    balance_after = models.PositiveIntegerField()
    kind = models.CharField(max_length=10, choices=Kind.choices)
    reason = models.CharField(max_length=300, blank=True)
    idempotency_key = models.CharField(max_length=120, unique=True)
    coupon = models.ForeignKey(Coupon, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    # Set on checkout spends and returns: the order the coins paid for.
    order = models.ForeignKey("orders.Order", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    objects = AppendOnlyManager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "coin ledger entry"
        verbose_name_plural = "coin ledger"
        indexes = [models.Index(fields=["member", "-created_at"], name="coin_ledger_member_idx")]
        constraints = [models.CheckConstraint(condition=~Q(delta=0), name="coin_ledger_delta_non_zero")]

    def __str__(self) -> str:
        return f"{self.delta:+d} coins ({self.idempotency_key})"


class ManualCouponRequest(models.Model):
    """A coupon a staff member issued by hand above the region's approval threshold: it waits for a second staff
    member (four eyes) and exists only once approved (coupons.services.manual)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for a second staff member"
        APPROVED = "approved", "Approved: coupon issued"
        REJECTED = "rejected", "Rejected"

    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    member = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=10, choices=CouponKind.choices)
    title = models.CharField(max_length=120, blank=True)
    store = models.ForeignKey("orders.Store", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    value = models.DecimalField(max_digits=10, decimal_places=2)
    min_spend = models.DecimalField(max_digits=10, decimal_places=2, default=0)
    currency = models.CharField(max_length=3)
    valid_days = models.PositiveSmallIntegerField()
    reason = models.CharField(max_length=300)
    # The issue form's token: submitting the same form twice makes one request (and later one coupon).
    token = models.CharField(max_length=64, unique=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.CharField(max_length=300, blank=True)
    coupon = models.OneToOneField(Coupon, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        permissions = [("approve_manual_coupon", "Can approve a manual coupon another staff member issued")]
        constraints = [
            models.CheckConstraint(condition=~Q(decided_by=models.F("requested_by")), name="manual_coupon_four_eyes"),
        ]

    def __str__(self) -> str:
        return f"{self.currency} {self.value} for {self.member} ({self.get_status_display()})"
