"""The click roll-up: each click counted once into `ClickTally`, behind a watermark (docs/performance.md).

The funnel on Invite Friends used to count the member's whole click history on every visit. Now `ClickRollup` holds
a time, `counted_before`, and `ClickTally` holds the count of every click dated before it, per code and channel
(whether its raw row still exists or the retention job has deleted it). The funnel reads the tally plus the raw
clicks from the watermark on, in one statement (`referrals.selectors.funnel`): a few index entries per member.
Nothing changes on the click's hot path (no counter row to update per click).

`roll_up_clicks` (every five minutes, `referrals.tasks.roll_up_clicks`) moves the watermark up to
`now - CLICK_ROLLUP_LAG`, one bounded batch per transaction:

1. lock the watermark row (SELECT … FOR UPDATE): two runs at once take turns, and the second one reads the
   watermark the first one committed, so no time range is counted twice;
2. pick the batch's end: the whole way, halved until the range holds at most `batch` clicks (a huge first run
   over years of clicks goes in bounded steps; the range is found through the BRIN index on PostgreSQL);
3. count the range's clicks per code and channel, add them to the tally (one upsert, in a fixed order),
   move the watermark to the end; commit.

Why a click is counted exactly once: a click dated before the bound has committed before the roll-up reads
(`CLICK_ROLLUP_LAG`, and on PostgreSQL the bound never passes the oldest open transaction), so the range count sees
it; the watermark moves in the same transaction as the tally, so the funnel's single statement sees either both
or neither. A click must never be inserted with a time before the watermark except through `add_old_clicks`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime

from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone

from referrals.models import CLICKS_NOT_ROLLED_UP, Click, ClickRollup, ClickTally
from referrals.program import CLICK_ROLLUP_LAG

ROLLUP_BATCH = 50_000  # at most this many clicks counted per transaction (unless one microsecond holds more)

_OLDEST_OPEN_TRANSACTION = (
    "SELECT min(xact_start) FROM pg_stat_activity "
    "WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
)


def clicks_counted_before() -> datetime:
    """The watermark: every click dated before it is in `ClickTally`."""
    found = ClickRollup.objects.filter(pk=1).values_list("counted_before", flat=True).first()
    return found or CLICKS_NOT_ROLLED_UP


def add_to_tally(counts: Counter[tuple[int, str]], now: datetime) -> None:
    """counts[(code id, channel)] += n as one upsert (PostgreSQL and SQLite both speak ON CONFLICT)."""
    table = connection.ops.quote_name(ClickTally._meta.db_table)
    sql = (
        f"INSERT INTO {table} (referral_code_id, channel, clicks, updated_at) VALUES (%s, %s, %s, %s) "  # noqa: S608 - our table name
        "ON CONFLICT (referral_code_id, channel) DO UPDATE "
        f"SET clicks = {table}.clicks + EXCLUDED.clicks, updated_at = EXCLUDED.updated_at"
    )
    with connection.cursor() as cursor:
        # In one order (code, channel): two writers upserting the same tallies in different orders would deadlock.
        cursor.executemany(sql, [(code, channel, n, now) for (code, channel), n in sorted(counts.items()) if n])


def _locked_watermark() -> datetime:
    """The watermark, its row locked until the transaction ends (the row is created if a flush removed it)."""
    row = ClickRollup.objects.select_for_update().filter(pk=1).values_list("counted_before", flat=True).first()
    if row is None:
        ClickRollup.objects.bulk_create([ClickRollup(pk=1, counted_before=CLICKS_NOT_ROLLED_UP)], ignore_conflicts=True)
        row = ClickRollup.objects.select_for_update().filter(pk=1).values_list("counted_before", flat=True).get()
    return row


def rollup_bound(now: datetime) -> datetime:
    """How far the roll-up may count at `now`: `CLICK_ROLLUP_LAG` behind the clock and, on PostgreSQL, behind the
    start of the oldest transaction still open on this database (a click held up in a lock wait, a slow commit)."""
    bound = now - CLICK_ROLLUP_LAG
    if connection.vendor == "postgresql":
        # A click's transaction starts after its time is taken, so one still open started after its click: no click
        # dated before (its start - LAG) can be in flight. (pg_stat_activity shows other sessions' xact_start to the
        # same role, which is the portal's; on SQLite writers are serialized by IMMEDIATE transactions anyway.)
        with connection.cursor() as cursor:
            # Inside a transaction PostgreSQL keeps the first view of pg_stat_activity it read: drop it, read afresh.
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute(_OLDEST_OPEN_TRANSACTION)
            oldest = cursor.fetchone()[0]
        if oldest is not None:
            bound = min(bound, oldest - CLICK_ROLLUP_LAG)
    return bound


def _has_more_than(start: datetime, end: datetime, limit: int) -> bool:
    return Click.objects.filter(clicked_at__gte=start, clicked_at__lt=end).values("pk")[limit : limit + 1].exists()


def _counts(start: datetime, end: datetime) -> Counter[tuple[int, str]]:
    rows = (
        Click.objects.filter(clicked_at__gte=start, clicked_at__lt=end)
        .values("referral_code_id", "channel")
        .annotate(n=Count("*"))
        .order_by()
        .values_list("referral_code_id", "channel", "n")
    )
    return Counter({(code, channel): n for code, channel, n in rows})


def roll_up_clicks(*, now: datetime | None = None, batch: int = ROLLUP_BATCH, max_batches: int | None = None) -> int:
    """Count every click dated before `now - CLICK_ROLLUP_LAG` into `ClickTally` exactly once, moving the watermark
    in batches of at most `batch` clicks (one transaction each); safe to repeat and to run twice at once. Returns
    the clicks counted. `now` is the current time (a later one only in tests)."""
    now = now or timezone.now()
    bound = rollup_bound(now)
    counted, batches = 0, 0
    width = None  # the last batch's time span: the next one tries twice that before halving
    while max_batches is None or batches < max_batches:
        with transaction.atomic():
            start = _locked_watermark()
            if start >= bound:
                break
            end = bound if width is None else min(bound, start + 2 * width)
            while (end - start).total_seconds() > 1e-6 and _has_more_than(start, end, batch):
                end = start + (end - start) / 2
            counts = _counts(start, end)
            add_to_tally(counts, now)
            ClickRollup.objects.filter(pk=1).update(counted_before=end, updated_at=now)
        counted += counts.total()
        batches += 1
        width = end - start
    return counted


@transaction.atomic
def add_old_clicks(clicks: Iterable[Click]) -> list[Click]:
    """Insert clicks that may be dated in the past (demo data, imports): those before the watermark are added to the
    tally in the same transaction, under the watermark's lock, as the roll-up would have counted them."""
    counted_before = _locked_watermark()
    created = Click.objects.bulk_create(list(clicks))
    passed = Counter((c.referral_code_id, c.channel) for c in created if c.clicked_at < counted_before)
    add_to_tally(passed, timezone.now())
    return created
