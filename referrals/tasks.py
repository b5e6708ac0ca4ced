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

from referrals.services import crediting, retention

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
