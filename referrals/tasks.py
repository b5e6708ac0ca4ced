"""Celery adapters for crediting: ids in, one service call out (docs/program-rules.md G1).

No countdown or eta anywhere: the crediting promise (`referrals.program.CREDIT_DEADLINE`) is kept
through a database deadline (`credit_due_at`) that the every-minute sweep honours, never a delayed message.
"""

from __future__ import annotations

import functools
import logging

from celery import shared_task
from celery.contrib.django.task import DjangoTask
from django.db import transaction

from referrals.services import crediting, reconciliation, retention, sweep, what_if

logger = logging.getLogger(__name__)


class EnqueueAfterCommitTask(DjangoTask):
    """delay_on_commit that can never raise: a failed publish is logged and the sweep heals it."""

    def delay_on_commit(self, *args, **kwargs) -> None:
        transaction.on_commit(functools.partial(self._delay_or_log, *args, **kwargs))

    def _delay_or_log(self, *args, **kwargs) -> None:
        try:
            self.delay(*args, **kwargs)
        except Exception:
            # The write is committed; the due row is picked up by the sweep once the broker is back.
            logger.warning("could not enqueue %s%s; the sweep will handle it", self.name, args, exc_info=True)


@shared_task(base=EnqueueAfterCommitTask, acks_late=True, soft_time_limit=50, time_limit=60)
def credit_referral_task(referral_id: int) -> str:
    return crediting.credit_referral(referral_id=referral_id)


# A sweep stops after the batch that passes this budget and sends its continuation at once (no countdown), so a
# backlog of any size drains run after run without a task ever nearing its time limit.
SWEEP_BUDGET_SECONDS = 240


@shared_task(bind=True, acks_late=True, soft_time_limit=290, time_limit=300)
def credit_due_referrals(self, batch: int = sweep.SWEEP_BATCH) -> dict[str, int]:
    outcomes = sweep.credit_due_referrals(batch=batch, budget_seconds=SWEEP_BUDGET_SECONDS)
    if outcomes.get("unfinished"):
        try:
            self.apply_async(kwargs={"batch": batch})
        except Exception:
            logger.warning("could not send the credit sweep's continuation; the next beat sweep goes on", exc_info=True)
    return outcomes


@shared_task(acks_late=True, soft_time_limit=50, time_limit=60)
def flag_delayed_referrals() -> int:
    return crediting.flag_delayed_referrals()


# The task keeps its first name (the beat schedule and queued messages use it); it now checks the ledgers too.
@shared_task(acks_late=True, soft_time_limit=1500, time_limit=1800)
def reconcile_rewards() -> dict[str, int]:
    report = reconciliation.run_reconciliation()
    return {"reward_gaps": report.reward_gap_count, "ledger_problems": report.ledger_problem_count}


@shared_task(acks_late=True, soft_time_limit=1700, time_limit=1800)
def prune_clicks() -> int:
    """Daily: raw clicks past the retention, counted into ClickTally and deleted (docs/performance.md)."""
    return retention.prune_clicks()


@shared_task(base=EnqueueAfterCommitTask, acks_late=True, soft_time_limit=1500, time_limit=1600)
def run_what_if_task(run_id: int) -> str:
    """A program manager's what-if (evidence only; safe to run again: a finished run stays as it is)."""
    return what_if.run_what_if(run_id=run_id)
