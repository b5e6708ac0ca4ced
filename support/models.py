"""Support requests from members and the audit log of staff actions."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from lib.appendonly import AppendOnlyManager, AppendOnlyMixin


class SupportRequest(models.Model):
    class Kind(models.TextChoices):
        NOT_CREDITED = "not_credited", _("Reward not received")
        DISPUTE_REJECTION = "dispute", _("I think this is wrong")
        REWARD_REVERSAL = "reversal", _("Reward reversal after use")
        OTHER = "other", _("Other")
        # A flagged or suspended member asks for their account to be looked at (docs/program-rules.md section 10).
        APPEAL = "appeal", _("Account appeal")

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        IN_PROGRESS = "in_progress", _("In progress")
        RESOLVED = "resolved", _("Resolved")
        REJECTED = "rejected", _("Declined")

    member = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="support_requests")
    referral = models.ForeignKey(
        "referrals.Referral", null=True, blank=True, on_delete=models.SET_NULL, related_name="support_requests"
    )
    kind = models.CharField(max_length=14, choices=Kind.choices)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.OPEN)
    message = models.TextField(blank=True)
    # Attached automatically: link share, sign-up, first order, completion, deciding rule.
    evidence = models.JSONField(default=dict, blank=True)
    # Lower first; Diamond members' requests get 0.
    priority = models.PositiveSmallIntegerField(default=100)
    staff_reply = models.TextField(blank=True)
    handled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["priority", "created_at"]
        constraints = [
            # One open request per referral and kind: a double click opens one.
            models.UniqueConstraint(
                fields=["referral", "kind"],
                condition=models.Q(status__in=["open", "in_progress"]),
                name="one_open_request_per_referral",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.get_kind_display()} ({self.get_status_display()})"


# A request still waiting for staff (at most one per referral and kind: the constraint above).
OPEN_STATUSES = (SupportRequest.Status.OPEN, SupportRequest.Status.IN_PROGRESS)


class AuditLog(AppendOnlyMixin, models.Model):
    """Who did what, when and why: one row per staff action. Append-only (lib.appendonly; a trigger on PostgreSQL)."""

    # PROTECT: the row is never rewritten, so a staff member who acted is deactivated, not deleted.
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    action = models.CharField(max_length=60, db_index=True)
    target_type = models.CharField(max_length=60)
    target_id = models.CharField(max_length=40)
    target_repr = models.CharField(max_length=200, blank=True)
    reason = models.TextField(blank=True)
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    objects = AppendOnlyManager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.action} on {self.target_type} {self.target_id}"


class StaffEnrolmentLink(models.Model):
    """A one-time link that lets a staff member enrol their first authenticator app (support/second_factor.py).

    E-mailed to the staff member on request, or created by a superuser; only its keyed hash is stored.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    token_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"second-factor set-up link for {self.user} ({self.created_at:%Y-%m-%d %H:%M})"
