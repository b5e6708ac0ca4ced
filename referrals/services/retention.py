"""Click growth: raw clicks are kept for a while, then counted into `ClickTally` and deleted (docs/performance.md).

The click table is the portal's largest and grows with every link opened. A raw click is needed for
attribution (a sign-up within the attribution window finds it) and as a referral's evidence; after that only
its count matters (the funnel). So, daily, `prune_clicks` takes clicks older than `click_retention()` that no
referral points at, in batches, and in one transaction per batch adds their counts per code and channel to
`ClickTally` and deletes them. The funnel reads raw clicks plus the tally, so its numbers never change.

Safe to repeat and to run twice at once: each batch locks its rows (SKIP LOCKED on PostgreSQL), counts and
deletes them in the same transaction, so a click is tallied exactly once.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from referrals.models import Click, ClickTally, Referral
from referrals.program import CLICK_RETENTION_MARGIN
from referrals.services.attribution import attribution_window

PRUNE_BATCH = 5_000


def click_retention() -> timedelta:
    """How long raw clicks are kept: the setting, never less than the attribution window plus the margin."""
    return max(timedelta(days=settings.CLICK_RETENTION_DAYS), attribution_window() + CLICK_RETENTION_MARGIN)


def _add_to_tally(counts: Counter[tuple[int, str]], now: datetime) -> None:
    """counts[(code id, channel)] += n as one upsert (PostgreSQL and SQLite both speak ON CONFLICT)."""
    table = connection.ops.quote_name(ClickTally._meta.db_table)
    sql = (
        f"INSERT INTO {table} (referral_code_id, channel, clicks, updated_at) VALUES (%s, %s, %s, %s) "  # noqa: S608 - our table name
        "ON CONFLICT (referral_code_id, channel) DO UPDATE "
        f"SET clicks = {table}.clicks + EXCLUDED.clicks, updated_at = EXCLUDED.updated_at"
    )
    with connection.cursor() as cursor:
        # In one order (code, channel): two pruners upserting the same tallies in different orders would deadlock.
        cursor.executemany(sql, [(code, channel, n, now) for (code, channel), n in sorted(counts.items())])


def prune_clicks(*, now: datetime | None = None, batch: int = PRUNE_BATCH, max_batches: int | None = None) -> int:
    """Tally and delete raw clicks past the retention that no referral points at; returns clicks removed."""
    now = now or timezone.now()
    cutoff = now - click_retention()
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
                .values_list("pk", "referral_code_id", "channel")[:batch]
            )
            if not rows:
                break
            _add_to_tally(Counter((code, channel) for _, code, channel in rows), now)
            Click.objects.filter(pk__in=[pk for pk, _, _ in rows]).delete()
        removed += len(rows)
        last_id = rows[-1][0]
        batches += 1
    return removed
