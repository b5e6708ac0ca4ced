"""Celery adapters for crediting: ids in, one service call out (docs/program-rules.md G1).

No countdown or eta anywhere: the crediting promise (`referrals.program.CREDIT_DEADLINE`) is kept
through a database deadline (`credit_due_at`) that the every-minute sweep honours, never a delayed message.
"""

from __future__ import annotations

from celery import shared_task

from ops.services.outbox import enqueue_task
from ops.tasks import PortalTask
from referrals.services import crediting, retention, what_if


class EnqueueAfterCommitTask(PortalTask):
    """delay_on_commit through the outbox: the message is a row written in the caller's transaction and
    published after commit off the request thread (ops.services.outbox), so it never waits for Redis and
    is never lost; the sweep still credits anything due."""

    def delay_on_commit(self, *args, **kwargs) -> None:
        if kwargs:
            raise TypeError("outbox tasks take positional arguments only")
        enqueue_task(name=self.name, args=args)


@shared_task(base=EnqueueAfterCommitTask, acks_late=True, soft_time_limit=50, time_limit=60)
def credit_referral_task(referral_id: int) -> str:
    return crediting.credit_referral(referral_id=referral_id)


@shared_task(acks_late=True, soft_time_limit=50, time_limit=60)
def credit_due_referrals(batch: int = 200) -> dict[str, int]:
    return crediting.credit_due_referrals(batch=batch)


@shared_task(acks_late=True, soft_time_limit=50, time_limit=60)
def flag_delayed_referrals() -> int:
    return crediting.flag_delayed_referrals()


@shared_task(acks_late=True, soft_time_limit=250, time_limit=300)
def reconcile_rewards() -> list[dict]:
    return crediting.reconcile_rewards()


@shared_task(acks_late=True, soft_time_limit=1700, time_limit=1800)
def prune_clicks() -> int:
    """Daily: raw clicks past the retention, counted into ClickTally and deleted (docs/performance.md)."""
    return retention.prune_clicks()


@shared_task(base=EnqueueAfterCommitTask, acks_late=True, soft_time_limit=1500, time_limit=1600)
def run_what_if_task(run_id: int) -> str:
    """A program manager's what-if (evidence only; safe to run again: a finished run stays as it is)."""
    return what_if.run_what_if(run_id=run_id)
