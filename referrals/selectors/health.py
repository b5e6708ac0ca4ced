"""How late crediting is, for monitoring (/metrics, /healthz/dependencies; docs/deployment.md alert rules)."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Count, Min, Q

from referrals.models import Referral
from referrals.reasons import ReasonCode, ReferralState


def crediting_lag(*, now: datetime) -> tuple[float, int]:
    """(seconds since the oldest reward still owed became due — 0 when none —, referrals flagged
    TECHNICAL_DELAY and still not credited), in one query on the (state, credit_due_at) index."""
    row = Referral.objects.filter(state=ReferralState.QUALIFIED).aggregate(
        oldest_due=Min("credit_due_at", filter=Q(credit_due_at__lte=now)),
        delayed=Count("pk", filter=Q(reason_code=ReasonCode.TECHNICAL_DELAY)),
    )
    oldest = row["oldest_due"]
    return (max((now - oldest).total_seconds(), 0.0) if oldest else 0.0), row["delayed"]
