"""A what-if over past referrals (docs/program-rules.md section 6): how many would change outcome if the eligibility
thresholds were others, with examples and a CSV. Evidence only: no referral changes.

Each referral signed up in the run's date range is decided again on its recorded inputs (`referrals.replay`)
twice: under today's rules and under the run's settings; the run counts those whose outcome differs. A program
manager starts it from the admin; the Celery task (`referrals.tasks.run_what_if_task`) calls `run_what_if`, which
saves its progress every `PROGRESS_EVERY` referrals so the admin page can show it.
"""

from __future__ import annotations

import csv
import io
import logging
from datetime import UTC, datetime, time, timedelta

from django.db import transaction
from django.utils import timezone

from referrals.eligibility import TODAY, RuleSettings
from referrals.models import Referral, WhatIfRun
from referrals.replay import replay_signals

logger = logging.getLogger(__name__)

PROGRESS_EVERY = 200
EXAMPLES = 20
CSV_HEADER = [
    "referral_id",
    "registered_at",
    "state",
    "recorded_outcome",
    "recorded_rules_version",
    "today_outcome",
    "today_reason",
    "what_if_outcome",
    "what_if_reason",
    "changes",
]


def settings_of(run: WhatIfRun) -> RuleSettings:
    return RuleSettings(
        device_account_limit=run.device_account_limit,
        ip_signups_per_day_limit=run.ip_signups_per_day_limit,
        referrer_burst_limit=run.referrer_burst_limit,
    )


def _in_range(run: WhatIfRun):
    start = datetime.combine(run.date_from, time.min, tzinfo=UTC)
    end = datetime.combine(run.date_to, time.min, tzinfo=UTC) + timedelta(days=1)
    return Referral.objects.filter(registered_at__gte=start, registered_at__lt=end)


def _reason(stages) -> str:
    return next((stage.replayed_reason for stage in stages if stage.replayed_reason), "")


def run_what_if(*, run_id: int) -> str:
    """Compute one what-if run (safe to call again: a finished run is left as it is); returns its status."""
    with transaction.atomic():
        run = WhatIfRun.objects.select_for_update().filter(pk=run_id).first()
        if run is None or run.status in (WhatIfRun.Status.DONE, WhatIfRun.Status.FAILED):
            return run.status if run else ""
        referrals = _in_range(run)
        run.total = referrals.count()
        run.status, run.started_at, run.processed = WhatIfRun.Status.RUNNING, timezone.now(), 0
        run.save(update_fields=["total", "status", "started_at", "processed"])
    candidate = settings_of(run)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_HEADER)
    changed = not_replayable = processed = 0
    examples: list[dict] = []
    try:
        rows = referrals.order_by("registered_at", "pk").only("id", "registered_at", "state", "signals")
        for referral in rows.iterator(chunk_size=500):
            processed += 1
            signals = referral.signals or {}
            today, what_if = replay_signals(signals, TODAY), replay_signals(signals, candidate)
            if not today.replayable:
                not_replayable += 1
            else:
                differs = today.replayed_outcome != what_if.replayed_outcome
                row = {
                    "referral_id": referral.pk,
                    "registered_at": referral.registered_at.isoformat(),
                    "state": referral.state,
                    "recorded_outcome": today.recorded_outcome,
                    "recorded_rules_version": today.stages[0].recorded_version,
                    "today_outcome": today.replayed_outcome,
                    "today_reason": _reason(today.stages),
                    "what_if_outcome": what_if.replayed_outcome,
                    "what_if_reason": _reason(what_if.stages),
                    "changes": "yes" if differs else "no",
                }
                writer.writerow([row[key] for key in CSV_HEADER])
                if differs:
                    changed += 1
                    if len(examples) < EXAMPLES:
                        examples.append(row)
            if processed % PROGRESS_EVERY == 0:
                WhatIfRun.objects.filter(pk=run.pk).update(processed=processed, changed=changed)
    except Exception as error:
        logger.exception("what-if run %s failed", run.pk)
        WhatIfRun.objects.filter(pk=run.pk).update(
            status=WhatIfRun.Status.FAILED, error=str(error)[:300], finished_at=timezone.now()
        )
        return WhatIfRun.Status.FAILED
    WhatIfRun.objects.filter(pk=run.pk).update(
        status=WhatIfRun.Status.DONE,
        processed=processed,
        changed=changed,
        not_replayable=not_replayable,
        examples=examples,
        csv_text=out.getvalue(),
        finished_at=timezone.now(),
    )
    logger.info("what-if run %s: %s of %s referrals would change outcome", run.pk, changed, processed)
    return WhatIfRun.Status.DONE
