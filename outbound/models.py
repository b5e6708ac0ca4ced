"""Outbound referral events: the endpoints a program manager registers, one event row per referral change that
receivers hear of, and each endpoint's delivery of it with its attempts (docs/outbound-events.md)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class EventType(models.TextChoices):
    JOINED = "referral.joined", _("Friend joined")
    QUALIFIED = "referral.qualified", _("Qualified")
    CREDITED = "referral.credited", _("Credited")
    CAPPED = "referral.capped", _("Capped (monthly limit)")
    VOIDED = "referral.voided", _("Voided")
    REJECTED = "referral.rejected", _("Rejected")
    REVERSED = "referral.reversed", _("Reward reversed")


def all_event_types() -> list[str]:
    return [choice.value for choice in EventType]


class Endpoint(models.Model):
    """An HTTPS receiver of referral events, with the secret that signs what it receives."""

    name = models.CharField(_("name"), max_length=120)
    url = models.URLField(_("URL"), max_length=500, help_text=_("HTTPS address that receives the events (POST)."))
    secret = models.CharField(_("signing secret"), max_length=128, editable=False)
    previous_secret = models.CharField(
        _("previous signing secret"),
        max_length=128,
        blank=True,
        editable=False,
        help_text=_("Still signed with during a rotation, so the receiver can switch over."),
    )
    event_types = models.JSONField(_("events"), default=all_event_types)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["name"]
        verbose_name = _("event endpoint")
        verbose_name_plural = _("event endpoints")

    def __str__(self) -> str:
        return self.name


class OutboundEvent(models.Model):
    """One event receivers hear of: made from a timeline row of the referral (written in the same transaction as
    the change itself, crediting included), once per row and type; the payload is frozen when it is made."""

    source = models.ForeignKey("referrals.ReferralEvent", on_delete=models.PROTECT, related_name="+")
    referral = models.ForeignKey("referrals.Referral", on_delete=models.PROTECT, related_name="+")
    type = models.CharField(max_length=30, choices=EventType.choices)
    occurred_at = models.DateTimeField()
    payload = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("outbound event")
        verbose_name_plural = _("outbound events")
        constraints = [models.UniqueConstraint(fields=["source", "type"], name="one_outbound_event_per_source")]

    def __str__(self) -> str:
        return f"evt_{self.pk} {self.type}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    DELIVERED = "delivered", _("Delivered")
    FAILED = "failed", _("Failed (gave up)")


class Delivery(models.Model):
    """One event to one endpoint: retried with exponential backoff until delivered or given up. The next attempt's
    time is stored (`next_attempt_at`) and a beat task picks up what is due."""

    endpoint = models.ForeignKey(Endpoint, on_delete=models.PROTECT, related_name="deliveries")
    event = models.ForeignKey(OutboundEvent, on_delete=models.PROTECT, related_name="deliveries")
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("delivery")
        verbose_name_plural = _("delivery log")
        permissions = [("resend_delivery", _("Can re-send an outbound event"))]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="delivery_due_idx")]
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "event"], name="one_delivery_per_endpoint_event"),
            models.CheckConstraint(
                condition=~Q(status="pending") | Q(next_attempt_at__isnull=False), name="pending_delivery_has_deadline"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event} → {self.endpoint}"


class DeliveryAttempt(models.Model):
    """One HTTP attempt of a delivery: when, the answer (or the error) and how long it took."""

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_log")
    attempted_at = models.DateTimeField(default=timezone.now)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-attempted_at", "-id"]

    def __str__(self) -> str:
        return f"{self.attempted_at:%Y-%m-%d %H:%M:%S} {self.status_code or self.error}"


class FanoutCursor(models.Model):
    """How far the timeline has been turned into events: one row. The next run starts a safety margin before it,
    so a change committed late (its row dated earlier) is still picked up; the unique source makes that free."""

    name = models.CharField(max_length=30, unique=True)
    recorded_until = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name}: {self.recorded_until:%Y-%m-%d %H:%M:%S}"
