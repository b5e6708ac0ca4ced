"""Operations: the outbox of work that must follow a commit, task deliveries (parked poison tasks) and
the last run of each periodic job (docs/deployment.md)."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class OutboxMessage(models.Model):
    """One piece of work recorded in the transaction that caused it; the relay dispatches it once."""

    class Kind(models.TextChoices):
        TASK = "task", _("publish a Celery task")
        CALL = "call", _("call a function")

    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    # A Celery task name (TASK) or the dotted path of an idempotent function (CALL); always written by code.
    target = models.CharField(_("target"), max_length=200)
    args = models.JSONField(_("arguments"), default=list, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    next_attempt_at = models.DateTimeField(_("next attempt"), default=timezone.now)
    dispatched_at = models.DateTimeField(_("dispatched"), null=True, blank=True)
    attempts = models.PositiveIntegerField(_("failed attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)

    class Meta:
        verbose_name = _("outbox message")
        verbose_name_plural = _("outbox messages")
        indexes = [
            # The relay's claim and the depth/age metrics read only pending rows.
            models.Index(
                fields=["next_attempt_at"], condition=Q(dispatched_at__isnull=True), name="ops_outbox_pending"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.target}{tuple(self.args)}"


class TaskDelivery(models.Model):
    """A Celery message delivered more than once (its worker died or was restarted while running it).
    After `ops.services.deliveries.MAX_DELIVERIES` deliveries it is parked: staff retry it by hand."""

    task_id = models.CharField(_("task id"), max_length=64, unique=True)
    task_name = models.CharField(_("task"), max_length=200)
    args = models.JSONField(_("arguments"), default=list, blank=True)
    kwargs = models.JSONField(_("keyword arguments"), default=dict, blank=True)
    deliveries = models.PositiveIntegerField(_("deliveries"), default=1)
    first_delivered_at = models.DateTimeField(_("first redelivered"), default=timezone.now)
    last_delivered_at = models.DateTimeField(_("last delivered"), default=timezone.now)
    parked_at = models.DateTimeField(_("parked"), null=True, blank=True)
    retried_at = models.DateTimeField(_("retried by hand"), null=True, blank=True)

    class Meta:
        verbose_name = _("task delivery")
        verbose_name_plural = _("task deliveries")
        permissions = [("retry_parked_task", "Can retry a parked task")]

    def __str__(self) -> str:
        return f"{self.task_name} {self.task_id}"


class JobRun(models.Model):
    """The last run of one periodic job: when, how long, how many rows, and the running totals."""

    name = models.CharField(_("job"), max_length=200, unique=True)
    last_started_at = models.DateTimeField(_("last started"))
    last_duration_seconds = models.FloatField(_("last duration (s)"))
    last_count = models.PositiveIntegerField(_("rows in the last run"), default=0)
    runs = models.PositiveIntegerField(_("runs"), default=0)
    rows = models.PositiveBigIntegerField(_("rows in all runs"), default=0)
    seconds = models.FloatField(_("seconds in all runs"), default=0)

    class Meta:
        verbose_name = _("job run")
        verbose_name_plural = _("job runs")

    def __str__(self) -> str:
        return self.name
