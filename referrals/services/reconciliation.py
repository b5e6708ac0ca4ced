"""The nightly reconciliation (docs/program-rules.md section 4): rewards and ledgers checked, the result kept.

1. every completed first order older than the crediting deadline has a reward or a reason
   (`crediting.reconcile_rewards`);
2. the ledgers explain every coupon and balance (`coupons.reconciliation.ledger_problems`).
Each run is stored as a `ReconciliationReport` (the staff dashboard shows the latest) and logged: one ERROR
line per kind of discrepancy, or one INFO line when everything reconciles.
"""

from __future__ import annotations

import logging
from collections import Counter

from coupons.reconciliation import ledger_problems
from referrals.models import ReconciliationReport
from referrals.services.crediting import reconcile_rewards

logger = logging.getLogger(__name__)

# Rows kept per list in a report (the log line and the counts cover all of them).
REPORT_LIMIT = 500


def run_reconciliation() -> ReconciliationReport:
    gaps = reconcile_rewards()
    problems = ledger_problems()
    for check, n in sorted(Counter(problem["check"] for problem in problems).items()):
        logger.error(
            "reconciliation: %s ledger discrepancy(ies) of kind %s: %s",
            n,
            check,
            [p for p in problems if p["check"] == check][:50],
        )
    if not problems:
        logger.info("reconciliation: the ledgers explain every coupon and balance")
    return ReconciliationReport.objects.create(
        reward_gaps=gaps[:REPORT_LIMIT],
        ledger_problems=problems[:REPORT_LIMIT],
        reward_gap_count=len(gaps),
        ledger_problem_count=len(problems),
    )
