"""Members and the identity signals the program's rules read.

Raw identifiers never live here for long: device ids and IPs are stored as
keyed HMACs (`accounts.identity.keyed_hash`), raw IPs only for the retention
period, payment cards only as the provider's opaque fingerprint (orders app).
"""

from __future__ import annotations

from decimal import Decimal

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django_countries.fields import CountryField


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
        indexes = [models.Index(fields=["phone"], name="user_phone_idx")]
        # Staff actions the model permissions cannot express (support/migrations/0002_staff_roles.py).
        permissions = [
            ("flag_member", "Can flag, suspend or reactivate a member"),
            ("resend_notice", "Can resend a notice to a member"),
            ("void_coupon", "Can void a member's coupon"),
        ]

    def __str__(self) -> str:
        return self.email

    def save(self, *args, **kwargs) -> None:
        from accounts.identity import normalize_email

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
    def has_verified_phone(self) -> bool:
        return self.phone_verified_at is not None


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

    class Meta:
        ordering = ["country"]
        constraints = [
            models.UniqueConstraint(fields=["is_default"], condition=Q(is_default=True), name="one_default_region"),
            models.CheckConstraint(condition=Q(reward_amount__gte=0), name="region_reward_non_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.country})"


class Device(models.Model):
    """A browser, known by the keyed hash of its signed first-party cookie id."""

    id_hash = models.CharField(max_length=64, unique=True)
    fingerprint_hash = models.CharField(max_length=64, blank=True, db_index=True)
    user_agent = models.CharField(max_length=300, blank=True)
    first_seen_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)

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
    ip_hash = models.CharField(max_length=64, db_index=True)
    ip_country = models.CharField(max_length=2, blank=True)
    raw_ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    seen_at = models.DateTimeField(default=timezone.now, db_index=True)

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
