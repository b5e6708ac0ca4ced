"""Celery adapters for crediting: ids in, one service call out (docs/program-rules.md G1).

No countdown or eta anywhere: the crediting promise (`referrals.program.CREDIT_DEADLINE`) is kept
through a database deadline (`credit_due_at`) that the every-minute sweep honours, never a delayed message.
"""

from __future__ import annotations

from celery import shared_task

from ops.services.outbox import enqueue_task
from ops.tasks import PortalTask
from referrals.services import crediting, reconciliation, retention, rollup, sweep, tallies, what_if


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


# A sweep stops after the batch that passes this budget and sends its continuation at once (no countdown), so a
# backlog of any size drains run after run without a task ever nearing its time limit. The continuation is an
# outbox row (published at once, or by the relay once Redis answers): never lost, never waiting on a hung broker.
SWEEP_BUDGET_SECONDS = 240


@shared_task(bind=True, acks_late=True, soft_time_limit=290, time_limit=300)
def credit_due_referrals(self, batch: int = sweep.SWEEP_BATCH) -> dict[str, int]:
    outcomes = sweep.credit_due_referrals(batch=batch, budget_seconds=SWEEP_BUDGET_SECONDS)
    if outcomes.get("unfinished"):
        enqueue_task(name=self.name, args=[batch])
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
    """Daily: raw clicks past the retention that the roll-up has counted are deleted (docs/performance.md)."""
    return retention.prune_clicks()


@shared_task(acks_late=True, soft_time_limit=240, time_limit=270)
def roll_up_clicks() -> int:
    """Every five minutes: clicks older than CLICK_ROLLUP_LAG counted into ClickTally, exactly once (a run killed
    by its time limit loses only its open batch; the next run continues from the watermark)."""
    return rollup.roll_up_clicks()


@shared_task(acks_late=True, soft_time_limit=50, time_limit=60)
def compact_referral_tallies() -> int:
    """Every minute: the kept referral counts' delta rows folded into one row per group (docs/performance.md);
    returns the tally rows folded (the job's rows). Stopped by its time limit, it loses nothing: each batch is its
    own transaction and the next run goes on."""
    return tallies.compact_referral_tallies().removed


@shared_task(base=EnqueueAfterCommitTask, acks_late=True, soft_time_limit=1500, time_limit=1600)
def run_what_if_task(run_id: int) -> str:
    """A program manager's what-if (evidence only; safe to run again: a finished run stays as it is)."""
    return what_if.run_what_if(run_id=run_id)
