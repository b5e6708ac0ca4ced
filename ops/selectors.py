"""Reads of operations for monitoring (/metrics, /healthz/dependencies) and staff."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Min, Q

from ops.models import JobRun, OutboxMessage, TaskDelivery
from ops.services.outbox import MAX_ATTEMPTS


@dataclass(frozen=True)
class OutboxStats:
    pending: int  # not dispatched yet (waiting for the broker, or retrying)
    oldest_pending_seconds: float  # 0 when nothing is pending
    failed: int  # gave up after MAX_ATTEMPTS failures: staff look at last_error


def outbox_stats(*, now: datetime) -> OutboxStats:
    """Depth and age of the outbox in one query (the partial index of pending rows)."""
    row = OutboxMessage.objects.filter(dispatched_at__isnull=True).aggregate(
        pending=Count("pk", filter=Q(attempts__lt=MAX_ATTEMPTS)),
        failed=Count("pk", filter=Q(attempts__gte=MAX_ATTEMPTS)),
        oldest=Min("created_at"),
    )
    oldest = row["oldest"]
    return OutboxStats(
        pending=row["pending"],
        oldest_pending_seconds=max((now - oldest).total_seconds(), 0.0) if oldest else 0.0,
        failed=row["failed"],
    )


def parked_task_count() -> int:
    return TaskDelivery.objects.filter(parked_at__isnull=False, retried_at__isnull=True).count()


def job_runs() -> list[JobRun]:
    return list(JobRun.objects.order_by("name"))
