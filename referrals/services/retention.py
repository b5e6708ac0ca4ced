"""Click growth: raw clicks are kept for a while, then deleted once counted (docs/performance.md, "Click growth").

The click table is the portal's largest and grows with every link opened. A raw click is needed for
attribution (a sign-up within the attribution window finds it) and as a referral's evidence; after that only
its count matters (the funnel), and the click roll-up (`referrals.services.rollup`) has counted it into
`ClickTally` already. So, daily, `prune_clicks` deletes clicks older than `click_retention()` **and** older than the
roll-up's watermark that no referral points at, in batches. It adds nothing to the tally: every click it may delete
is counted there, so the funnel (tally + raw clicks from the watermark on) never changes.

Safe to repeat and to run twice at once: it only deletes rows that are counted already; two runs skip each
other's locked rows (SKIP LOCKED on PostgreSQL), and a row deleted twice is deleted once.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from referrals.models import Click, Referral
from referrals.program import CLICK_RETENTION_MARGIN
from referrals.services.attribution import attribution_window
from referrals.services.rollup import clicks_counted_before

PRUNE_BATCH = 5_000


def click_retention() -> timedelta:
    """How long raw clicks are kept: the setting, never less than the attribution window plus the margin."""
    return max(timedelta(days=settings.CLICK_RETENTION_DAYS), attribution_window() + CLICK_RETENTION_MARGIN)


def prune_clicks(*, now: datetime | None = None, batch: int = PRUNE_BATCH, max_batches: int | None = None) -> int:
    """Delete raw clicks past the retention and the roll-up's watermark that no referral points at (each one is
    counted in `ClickTally` already); returns clicks removed."""
    now = now or timezone.now()
    # The watermark only moves forward, so reading it once (without its lock) is safe: a later one is only later.
    cutoff = min(now - click_retention(), clicks_counted_before())
    removed, last_id, batches = 0, 0, 0
    referenced = Referral.objects.filter(click=OuterRef("pk"))
    while max_batches is None or batches < max_batches:
        with transaction.atomic():
            # Keyset on the primary key: clicks are appended in time order, so the old ones come first and
            # each batch starts where the last one stopped (kept, referenced clicks are never re-read).
            rows = list(
                Click.objects.select_for_update(skip_locked=True)
                .filter(pk__gt=last_id, clicked_at__lt=cutoff)
                .exclude(Exists(referenced))
                .order_by("pk")
                .values_list("pk", flat=True)[:batch]
            )
            if not rows:
                break
            Click.objects.filter(pk__in=rows).delete()
        removed += len(rows)
        last_id = rows[-1]
        batches += 1
    return removed
