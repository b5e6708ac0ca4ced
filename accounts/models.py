"""Members and the identity signals the program's rules read.

Raw identifiers never live here for long: device ids and IPs are stored as
keyed HMACs (`accounts.identity.keyed_hash`), raw IPs only for the retention
period, payment cards only as the provider's opaque fingerprint (orders app).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django_countries.fields import CountryField

from accounts.identity import normalize_email


class AccountStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    FLAGGED = "flagged", "Flagged"
    SUSPENDED = "suspended", "Suspended"


class StatusReason(models.TextChoices):
    """Reason codes for a flagged or suspended account (staff only; members never see them).

    Other parts may pass their own UPPER_SNAKE reason codes (e.g. referrals' SELF_REFERRAL).
    """

    DEVICE_RING = "DEVICE_RING", "Accounts on one device refer each other"
    SHARED_PAYMENT_METHOD = "SHARED_PAYMENT_METHOD", "Payment card shared with other accounts"
    SUSPICIOUS_ACTIVITY = "SUSPICIOUS_ACTIVITY", "Suspicious activity"
    CHARGEBACK = "CHARGEBACK", "Chargeback or payment fraud"
    TERMS_VIOLATION = "TERMS_VIOLATION", "Program terms violated"
    STAFF_REVIEW = "STAFF_REVIEW", "Held for staff review"


class LevelCode(models.TextChoices):
    """Member levels, lowest first (docs/program-rules.md section 8)."""

    SILVER = "silver", "Silver"
    GOLD = "gold", "Gold"
    PLATINUM = "platinum", "Platinum"
    DIAMOND = "diamond", "Diamond"


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra) -> User:
        if not email:
            raise ValueError("An e-mail address is required.")
        email = self.normalize_email(email).lower()
        user = self.model(email=email, **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra) -> User:
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra) -> User:
        extra["is_staff"] = True
        extra["is_superuser"] = True
        return self._create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A member (or staff). The e-mail address is the login."""

    email = models.EmailField("e-mail address", unique=True)
    # Canonical form for duplicate/self-referral checks: provider-specific dots
    # and +tags removed (accounts.identity.normalize_email).
    email_normalized = models.CharField(max_length=254, db_index=True, editable=False)
    first_name = models.CharField(max_length=150)
    last_name = models.CharField(max_length=150, blank=True)
    country = CountryField(blank_label="(select country)", default="US")
    language = models.CharField(max_length=10, default="en")
    currency = models.CharField(max_length=3, default="USD", help_text="Preferred display currency.")
    time_zone = models.CharField(max_length=64, default="UTC")

    phone = models.CharField(max_length=20, blank=True, help_text="E.164, e.g. +14155550123.")
    phone_verified_at = models.DateTimeField(null=True, blank=True)
    email_verified_at = models.DateTimeField(null=True, blank=True)

    status = models.CharField(max_length=12, choices=AccountStatus.choices, default=AccountStatus.ACTIVE)
    status_reason = models.CharField(max_length=40, blank=True, help_text="Reason code, for staff only.")
    status_changed_at = models.DateTimeField(null=True, blank=True)

    coins = models.PositiveIntegerField(default=0, help_text="Coin balance; every change is a ledger row.")

    # Member level (orders.points.recompute_level keeps these in step with completed orders, through
    # accounts.levels.set_level_points).
    level = models.CharField(max_length=10, choices=LevelCode.choices, default=LevelCode.SILVER)
    level_points = models.PositiveIntegerField(default=0, help_text="1 per whole unit of completed orders, 12 months.")
    level_updated_at = models.DateTimeField(null=True, blank=True)
    # When the oldest counted order leaves the 12-month window (the ageing-out sweep's deadline).
    points_expire_at = models.DateTimeField(null=True, blank=True, db_index=True)

    is_staff = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    EMAIL_FIELD = "email"
    USERNAME_FIELD = "email"
    REQUIRED_FIELDS = ["first_name"]

    class Meta:
        constraints = [
            # A verified phone belongs to one account.
            models.UniqueConstraint(
                fields=["phone"],
                condition=Q(phone_verified_at__isnull=False),
                name="unique_verified_phone",
            ),
        ]
        indexes = [
            models.Index(fields=["phone"], name="user_phone_idx"),
            # The member changelist's order (newest first).
            models.Index(fields=["date_joined"], name="user_joined_idx"),
            # Flagged and suspended members (few) by reason: the changelist's filter and the dashboards.
            models.Index(fields=["status", "status_reason"], name="user_status_idx"),
        ]
        # Staff actions the model permissions cannot express (support/migrations/0002_staff_roles.py).
        permissions = [
            ("flag_member", "Can flag, suspend or reactivate a member"),
            ("resend_notice", "Can resend a notice to a member"),
            ("void_coupon", "Can void a member's coupon"),
        ]

    def __str__(self) -> str:
        return self.email

    def save(self, *args, **kwargs) -> None:
        self.email = self.email.strip().lower()
        self.email_normalized = normalize_email(self.email)
        super().save(*args, **kwargs)

    def get_full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    def get_short_name(self) -> str:
        return self.first_name

    @property
    def is_flagged(self) -> bool:
        return self.status == AccountStatus.FLAGGED

    @property
    def is_suspended(self) -> bool:
        return self.status == AccountStatus.SUSPENDED

    @property
    def may_use_program(self) -> bool:
        """Flagged and suspended accounts get the security refusal on every program action (docs/program-rules.md
        section 6)."""
        return self.status == AccountStatus.ACTIVE


@dataclass(frozen=True, slots=True)
class WelcomeCoupon:
    """One coupon of a region's welcome package, as amounts."""

    value: Decimal
    min_spend: Decimal


@dataclass(frozen=True, slots=True)
class WelcomePackage:
    """A region's welcome package: its coupons in order (the n-th is issued with key welcome:<referral>:<n>)."""

    items: tuple[WelcomeCoupon, ...]

    @property
    def total(self) -> Decimal:
        return sum((item.value for item in self.items), Decimal(0))

    def __iter__(self) -> Iterator[WelcomeCoupon]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


class Region(models.Model):
    """Program settings of one country; the row with is_default applies to unlisted countries."""

    country = models.CharField(max_length=2, unique=True, help_text="ISO 3166-1 alpha-2 code.")
    name = models.CharField(max_length=80)
    is_default = models.BooleanField(default=False, help_text="Used for countries without their own row.")
    is_in_program = models.BooleanField(default=True)
    currency = models.CharField(max_length=3, default="USD")
    reward_amount = models.DecimalField(max_digits=10, decimal_places=2, default=Decimal("5.00"))
    reward_min_spend = models.DecimalField(max_digits=10, decimal_places=2, default=Decimal("20.00"))
    monthly_limit = models.PositiveSmallIntegerField(default=10)
    coupon_valid_days = models.PositiveSmallIntegerField(default=30)
    # [{"value": "4.00", "min_spend": "5.00"}, ...]
    welcome_package = models.JSONField(default=list, blank=True)
    time_zone = models.CharField(max_length=64, default="UTC", help_text="Program time zone (monthly limit).")
    locale = models.CharField(max_length=10, default="en_US")
    # Money staff may hand out by hand (coupons.services.manual): one coupon's ceiling, and the value above
    # which a second staff member must approve it before it exists (four eyes).
    manual_coupon_ceiling = models.DecimalField(
        max_digits=10, decimal_places=2, default=Decimal("50.00"), help_text="Most one manual coupon may be worth."
    )
    manual_coupon_approval_above = models.DecimalField(
        max_digits=10,
        decimal_places=2,
        default=Decimal("20.00"),
        help_text="A manual coupon worth more needs a second staff member's approval.",
    )

    class Meta:
        ordering = ["country"]
        constraints = [
            models.UniqueConstraint(fields=["is_default"], condition=Q(is_default=True), name="one_default_region"),
            models.CheckConstraint(condition=Q(reward_amount__gte=0), name="region_reward_non_negative"),
            models.CheckConstraint(
                condition=Q(manual_coupon_ceiling__gte=0) & Q(manual_coupon_approval_above__gte=0),
                name="region_manual_coupon_bounds_non_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.country})"

    def welcome_coupons(self) -> WelcomePackage:
        """The `welcome_package` JSON as typed amounts: the one place it is read. RegionAdminForm stores both keys;
        a row written otherwise reads a missing value or minimum spend as 0."""
        return WelcomePackage(
            items=tuple(
                WelcomeCoupon(
                    value=Decimal(str(item.get("value", 0))), min_spend=Decimal(str(item.get("min_spend", 0)))
                )
                for item in self.welcome_package or ()
            )
        )


class Device(models.Model):
    """A browser, known by the keyed hash of its signed first-party cookie id."""

    id_hash = models.CharField(max_length=64)
    fingerprint_hash = models.CharField(max_length=64, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    first_seen_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        # Hashes are only ever compared whole: no LIKE (`_like`) indexes, and no index entry for the
        # devices (most of them, from link clicks) that never sent a fingerprint.
        constraints = [models.UniqueConstraint(fields=["id_hash"], name="unique_device_id_hash")]
        indexes = [
            models.Index(
                fields=["fingerprint_hash"], name="device_fingerprint_idx", condition=~models.Q(fingerprint_hash="")
            )
        ]

    def __str__(self) -> str:
        return f"device {self.id_hash[:10]}…"


class AccountDevice(models.Model):
    """A member seen on a device (sign-up, login, link click, order)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="account_devices")
    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="account_devices")
    first_seen_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    first_event = models.CharField(max_length=20, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "device"], name="unique_account_device")]

    def __str__(self) -> str:
        return f"{self.user} on {self.device}"


class IPSighting(models.Model):
    """One request of interest from an IP; the raw IP is purged after the retention period."""

    class Kind(models.TextChoices):
        SIGNUP = "signup"
        LOGIN = "login"
        CLICK = "click"
        ORDER = "order"

    user = models.ForeignKey(User, null=True, blank=True, on_delete=models.CASCADE, related_name="ip_sightings")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    ip_hash = models.CharField(max_length=64)
    ip_country = models.CharField(max_length=2, blank=True)
    raw_ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    seen_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        # Lookups are "this IP hash since then" (same IP as the referrer, sign-ups from one IP in a day).
        indexes = [models.Index(fields=["ip_hash", "seen_at"], name="ipsighting_ip_time_idx")]

    def __str__(self) -> str:
        return f"{self.kind} from {self.ip_hash[:10]}… ({self.ip_country or '??'})"


class PhoneVerification(models.Model):
    """A one-time code sent to a phone: random, single use, 10 minutes, 5 attempts."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="phone_verifications")
    phone = models.CharField(max_length=20)
    code_hash = models.CharField(max_length=128)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    attempts = models.PositiveSmallIntegerField(default=0)
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"code for {self.phone}"


class Notification(models.Model):
    """A message in the member's portal inbox (also sent by e-mail)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=40)
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    link = models.CharField(max_length=200, blank=True)
    # Makes "send once" checkable by the database (e.g. "expiry-reminder:<coupon id>").
    dedupe_key = models.CharField(max_length=120, null=True, blank=True, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "-created_at"], name="notification_user_idx")]

    def __str__(self) -> str:
        return self.title


# --- Levels (docs/program-rules.md section 8); coins and check-ins live in the coupons app (the wallet) ---


class Level(models.Model):
    """A member level's threshold and benefits; program managers edit them in the admin."""

    code = models.CharField(max_length=10, choices=LevelCode.choices, unique=True)
    min_points = models.PositiveIntegerField(help_text="Points needed to reach this level (Silver is always 0).")
    anniversary_coupon_value = models.DecimalField(
        max_digits=10, decimal_places=2, default=0, help_text="Yearly membership-anniversary coupon; 0 = none."
    )
    anniversary_coupon_min_spend = models.DecimalField(max_digits=10, decimal_places=2, default=0)
    fast_refund_limit = models.DecimalField(
        max_digits=10,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="Refund requests for orders under this total are approved at once; empty = staff approve all.",
    )
    support_priority = models.PositiveSmallIntegerField(
        default=100, help_text="Support queue priority: lower comes first (Diamond 0)."
    )

    class Meta:
        ordering = ["min_points"]
        constraints = [
            models.CheckConstraint(condition=~Q(code="silver") | Q(min_points=0), name="silver_level_starts_at_zero"),
            models.CheckConstraint(condition=Q(anniversary_coupon_value__gte=0), name="anniversary_value_non_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.get_code_display()} ({self.min_points}+ points)"
