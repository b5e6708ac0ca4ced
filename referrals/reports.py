"""What staff background jobs leave for staff: the nightly reconciliation's reports and the what-if runs (models of
the referrals app, imported by `referrals.models`; kept apart so that module stays readable)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class ReconciliationReport(models.Model):
    """One nightly reconciliation run (referrals.services.reconciliation): what it found, for the staff dashboard."""

    ran_at = models.DateTimeField(default=timezone.now, db_index=True)
    # Completed first orders older than the crediting deadline without a reward or a reason.
    reward_gaps = models.JSONField(default=list, blank=True)
    # Ledger discrepancies (coupons.reconciliation): issuing rows, coupon and coin balances.
    ledger_problems = models.JSONField(default=list, blank=True)
    # How many of each were found (the lists keep the first REPORT_LIMIT rows).
    reward_gap_count = models.PositiveIntegerField(default=0)
    ledger_problem_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-ran_at"]

    def __str__(self) -> str:
        return f"reconciliation {self.ran_at:%Y-%m-%d %H:%M}: {self.problem_count} problem(s)"

    @property
    def problem_count(self) -> int:
        return self.reward_gap_count + self.ledger_problem_count


class WhatIfRun(models.Model):
    """A program manager's what-if: past referrals decided again under other thresholds (referrals.replay),
    computed in the background (referrals.tasks.run_what_if_task) with its progress, examples and a CSV."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting for the worker")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    date_from = models.DateField(help_text=_("First day of sign-ups to replay (UTC)."))
    date_to = models.DateField(help_text=_("Last day of sign-ups to replay (UTC), included."))
    device_account_limit = models.PositiveSmallIntegerField(
        _("device limit"), help_text=_("Accounts taking part on one device before DEVICE_LIMIT (today: 4).")
    )
    ip_signups_per_day_limit = models.PositiveSmallIntegerField(
        _("sign-ups per IP and day"), help_text=_("Sign-ups from one IP in a day before IP_BURST (today: 3).")
    )
    referrer_burst_limit = models.PositiveSmallIntegerField(
        _("referrer burst limit"),
        help_text=_("Qualified friends of one referrer within 24 h before REFERRER_BURST (today: 3)."),
    )
    note = models.CharField(
        max_length=300, blank=True, help_text=_("What you want to find out (kept in the audit log).")
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    total = models.PositiveIntegerField(default=0)
    processed = models.PositiveIntegerField(default=0)
    changed = models.PositiveIntegerField(default=0, help_text=_("Referrals whose outcome would change."))
    not_replayable = models.PositiveIntegerField(default=0, help_text=_("Referrals without recorded inputs."))
    examples = models.JSONField(default=list, blank=True)
    csv_text = models.TextField(blank=True)
    error = models.CharField(max_length=300, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("what-if run")
        constraints = [models.CheckConstraint(condition=Q(date_from__lte=models.F("date_to")), name="what_if_dates")]
        permissions = [("run_what_if", _("Can run a what-if of the eligibility thresholds over past referrals"))]

    def __str__(self) -> str:
        return f"What-if #{self.pk} ({self.date_from} – {self.date_to})"
