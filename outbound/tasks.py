"""Celery adapters for outbound events: the beat task turns new timeline rows into deliveries and attempts what
is due (docs/outbound-events.md). Retries are stored deadlines (`Delivery.next_attempt_at`), never countdowns."""

from __future__ import annotations

from celery import shared_task

from outbound import services
from referrals.tasks import EnqueueAfterCommitTask


@shared_task(base=EnqueueAfterCommitTask, acks_late=True, soft_time_limit=50, time_limit=60)
def dispatch_outbound_events() -> dict[str, int]:
    made = services.fan_out()
    run = services.deliver_due(budget_seconds=40.0)
    return {"events": made, "delivered": run.delivered, "failed": run.failed, "gave_up": run.gave_up}
