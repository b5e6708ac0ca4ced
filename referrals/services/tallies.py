"""Kept referral counts: the trigger-written deltas folded into one row per group (docs/performance.md, "Kept
referral counts").

Every change of a referral adds signed delta rows to `ReferralTally` (triggers of migration 0018), and Invite
Friends sums a referrer's rows (`selectors.funnel.kept_by_channel_and_state`). `compact_referral_tallies` keeps
that sum short: for a batch of referrers with delta rows it replaces all their rows by one row per (channel,
state) holding the sums, dropping groups that sum to zero, in one transaction per batch.

Why it stays exact while referrals change:
1. PostgreSQL: one statement, `WITH moved AS (DELETE … RETURNING …) INSERT … SELECT sums FROM moved`. Exactly the
   rows it deleted are summed. A delta committed after the statement's snapshot is neither deleted nor summed and
   waits for the next run. The triggers only INSERT (no unique key among delta rows), so a writer never waits for
   the compactor or another writer here, and the compactor's row locks are on rows no writer touches.
2. Compactors run one at a time (a transaction-level advisory lock, taken in its own statement so that the DELETE's
   snapshot, taken after, sees the previous compactor's rows). Without it two compactors could delete the same rows
   in different orders (a deadlock) or insert a second compacted row for a group (`referral_tally_compacted`
   refuses it, rolling that batch back: never a wrong count).
3. SQLite (development and tests, one writer at a time): the rows up to the highest id read first are summed,
   deleted and the sums inserted; a delta written meanwhile has a higher id and is left for the next run.
Safe to repeat: a referrer without delta rows is not touched.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection, transaction

from referrals.models import ReferralTally

COMPACT_BATCH = 500  # referrers per transaction
# pg_advisory_xact_lock key held by the compactor: "referral tally" (r=0x72, t=0x74) and this migration's number.
COMPACTION_LOCK = 0x7274_0018

TALLY = ReferralTally._meta.db_table
COLUMNS = "referrer_id, channel, state, n, ordered, already, is_delta"
NONZERO = "SUM(n) <> 0 OR SUM(ordered) <> 0 OR SUM(already) <> 0"

POSTGRES = f"""
WITH batch AS (
    SELECT DISTINCT referrer_id FROM {TALLY} WHERE is_delta AND referrer_id > %s ORDER BY referrer_id LIMIT %s
), moved AS (
    DELETE FROM {TALLY} AS t USING batch WHERE t.referrer_id = batch.referrer_id
    RETURNING t.referrer_id, t.channel, t.state, t.n, t.ordered, t.already
), kept AS (
    INSERT INTO {TALLY} ({COLUMNS})
    SELECT referrer_id, channel, state, SUM(n), SUM(ordered), SUM(already), false FROM moved
    GROUP BY referrer_id, channel, state HAVING {NONZERO}
    RETURNING 1
)
SELECT (SELECT MAX(referrer_id) FROM batch), (SELECT COUNT(*) FROM batch), (SELECT COUNT(*) FROM moved),
       (SELECT COUNT(*) FROM kept)
"""  # noqa: S608 - our table


@dataclass(frozen=True)
class Compaction:
    referrers: int = 0  # referrers compacted
    removed: int = 0  # rows deleted (deltas and the old compacted rows)
    kept: int = 0  # compacted rows written


def _compact_postgres(after: int, batch: int) -> tuple[int | None, Compaction]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [COMPACTION_LOCK])
        cursor.execute(POSTGRES, [after, batch])
        last, referrers, removed, kept = cursor.fetchone()
    return last, Compaction(referrers, removed, kept)


def _compact_sqlite(after: int, batch: int) -> tuple[int | None, Compaction]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT MAX(id) FROM {TALLY}")  # noqa: S608 - our table
        (top,) = cursor.fetchone()
        cursor.execute(
            f"SELECT DISTINCT referrer_id FROM {TALLY} WHERE is_delta AND referrer_id > %s AND id <= %s "  # noqa: S608
            "ORDER BY referrer_id LIMIT %s",
            [after, top or 0, batch],
        )
        ids = [referrer for (referrer,) in cursor.fetchall()]
        if not ids:
            return None, Compaction()
        among = f"referrer_id IN ({', '.join(['%s'] * len(ids))}) AND id <= %s"
        cursor.execute(
            f"SELECT referrer_id, channel, state, SUM(n), SUM(ordered), SUM(already) FROM {TALLY} "  # noqa: S608
            f"WHERE {among} GROUP BY referrer_id, channel, state HAVING {NONZERO}",
            [*ids, top],
        )
        sums = cursor.fetchall()
        # Deleted before the sums go in: the old compacted rows would collide with them (referral_tally_compacted).
        cursor.execute(f"DELETE FROM {TALLY} WHERE {among}", [*ids, top])  # noqa: S608 - our table
        removed = cursor.rowcount
        cursor.executemany(
            f"INSERT INTO {TALLY} ({COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, 0)",  # noqa: S608 - our table
            sums,
        )
        kept = len(sums)
    return ids[-1], Compaction(len(ids), removed, kept)


def compact_referral_tallies(*, batch: int = COMPACT_BATCH, max_batches: int | None = None) -> Compaction:
    """Fold every referrer's delta rows into one row per channel and state (one pass over the referrers with
    deltas, in id order, a transaction per batch); the sums never change. Safe to repeat and to run twice at once."""
    compact = _compact_postgres if connection.vendor == "postgresql" else _compact_sqlite
    after, batches = 0, 0
    total = Compaction()
    while max_batches is None or batches < max_batches:
        with transaction.atomic():
            last, done = compact(after, batch)
        if last is None:
            break
        total = Compaction(total.referrers + done.referrers, total.removed + done.removed, total.kept + done.kept)
        after, batches = last, batches + 1
    return total
