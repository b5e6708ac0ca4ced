"""The credit sweep: every due qualified referral, credited or capped in set-based batches (docs/program-rules.md G1).

One transaction per batch of `SWEEP_BATCH` referrals, a handful of statements each whatever its size:
1. claim the batch: `SELECT … FOR UPDATE SKIP LOCKED` of qualified, due referrals, in (credit_due_at, id)
   order from a cursor (keyset), through the partial index `referral_qualified_due_idx` that holds only
   qualified rows: a claim never re-walks credited ones, and two sweeps (two beats) or the per-referral
   task running beside it each take rows the other has not locked;
2. credit or cap the batch with `batch.credit_locked` (terms, monthly counters locked in id order, coupons,
   ledger, state, timeline and notices in one INSERT or UPDATE each): the code the per-referral task runs
   for a set of one.

A batch that fails is rolled back and its referrals are credited one per transaction by the per-referral
path, so one bad row cannot stall the rest (it is logged and retried by the next sweep).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Sequence
from datetime import datetime

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from referrals.models import Referral
from referrals.reasons import ReferralState
from referrals.services import crediting
from referrals.services.batch import Due, credit_locked, load_due

logger = logging.getLogger(__name__)

# Referrals per transaction: large enough that per-statement costs vanish, small enough that a batch's locks
# and its rollback (on a bad row) stay short.
SWEEP_BATCH = 500


def credit_due_referrals(*, batch: int = SWEEP_BATCH, budget_seconds: float | None = None) -> dict[str, int]:
    """Credit or cap every qualified referral due now, batch by batch; returns counts per outcome.

    Drains everything due when it started (rows that fall due meanwhile wait for the next run). With
    `budget_seconds` it stops after the batch that passes the budget and reports {"unfinished": 1}.
    """
    now = timezone.now()
    started = time.monotonic()
    outcomes: Counter[str] = Counter()
    cursor: tuple[datetime, int] | None = None
    while True:
        claimed: list[Due] = []
        try:
            with transaction.atomic():
                claimed = _claim(now=now, cursor=cursor, batch=batch)
                if not claimed:
                    break
                cursor = (claimed[-1].credit_due_at, claimed[-1].pk)
                outcomes.update(credit_locked(claimed, now=now))
        except Exception:
            if not claimed:
                logger.exception("credit sweep could not claim due referrals; the next sweep retries")
                outcomes["failed"] += 1
                break
            logger.exception("credit sweep: a batch of %s failed; crediting its referrals one by one", len(claimed))
            outcomes.update(_one_by_one([due.pk for due in claimed]))
        if len(claimed) < batch:
            break
        if budget_seconds is not None and time.monotonic() - started > budget_seconds:
            outcomes["unfinished"] = 1
            break
    if outcomes:
        logger.info("credit sweep: %s in %.1f s", dict(outcomes), time.monotonic() - started)
    return dict(outcomes)


def _claim(*, now: datetime, cursor: tuple[datetime, int] | None, batch: int) -> list[Due]:
    due = Referral.objects.select_for_update(skip_locked=True, of=("self",)).filter(
        state=ReferralState.QUALIFIED, credit_due_at__lte=now
    )
    if cursor is not None:
        due = due.filter(Q(credit_due_at__gt=cursor[0]) | Q(credit_due_at=cursor[0], pk__gt=cursor[1]))
    columns = ("pk", "referrer_id", "friend_id", "credit_due_at")
    # credit_due_at is never null here (credit_due_at <= now); `or now` tells the type checker so.
    rows = [(pk, r, f, at or now) for pk, r, f, at in due.order_by("credit_due_at", "pk").values_list(*columns)[:batch]]
    if not rows:
        return []
    return load_due(rows, now=now)


def _one_by_one(ids: Sequence[int]) -> Counter[str]:
    outcomes: Counter[str] = Counter()
    for pk in ids:
        try:
            outcomes[str(crediting.credit_referral(referral_id=pk))] += 1
        except Exception:
            logger.exception("crediting referral %s failed; the next sweep retries it", pk)
            outcomes["failed"] += 1
    return outcomes
