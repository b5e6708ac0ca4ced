"""Kept referral counts: the trigger-written deltas folded into one row per group (docs/performance.md, "Kept
referral counts").

Every change of a referral adds signed delta rows to `ReferralTally` (triggers of migration *_referral_tally), and
Invite Friends sums a referrer's rows (`selectors.funnel.kept_by_channel_and_state`). `compact_referral_tallies` keeps
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

`tally_mismatches` compares the kept counts with the referrals counted by `REFERRAL_COUNTS` (the staff check,
`manage.py check_referral_tallies`); `rebuild_referral_tallies` counts referrers' referrals again into the tally,
for when something wrote referrals past the triggers (a restore with triggers disabled).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import groupby

from django.db import connection, transaction
from django.db.models import QuerySet, Sum

from referrals.models import Referral, ReferralTally
from referrals.selectors.funnel import REFERRAL_COUNTS

COMPACT_BATCH = 500  # referrers per transaction
# The pg_advisory_xact_lock key the compactors and the rebuild hold: a constant no other lock uses ("rt" = 0x72 0x74).
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


Counts = dict[tuple[str, str], tuple[int, int, int]]


@dataclass(frozen=True)
class Mismatch:
    referrer_id: int
    kept: Counts  # (channel, state) -> (n, ordered, already), all-zero groups left out
    counted: Counts


def _counted(referrer_ids: list[int] | None) -> QuerySet:
    """`REFERRAL_COUNTS` over the referrals per (referrer, channel, state): the reference, one definition."""
    rows = Referral.objects.all() if referrer_ids is None else Referral.objects.filter(referrer_id__in=referrer_ids)
    return (
        rows.values("referrer_id", "channel", "state")
        .annotate(**REFERRAL_COUNTS)
        .order_by("referrer_id")
        .values_list("referrer_id", "channel", "state", *REFERRAL_COUNTS)
    )


def _by_referrer(rows) -> Iterator[tuple[int, Counts]]:
    for referrer_id, group in groupby(rows, key=lambda row: row[0]):
        counts = {(channel, state): tuple(values) for _, channel, state, *values in group}
        yield referrer_id, {key: value for key, value in counts.items() if any(value)}


def tally_mismatches(*, limit: int = 100) -> list[Mismatch]:
    """Referrers whose kept counts differ from their referrals counted (at most `limit`), read in one snapshot."""
    kept_rows = (
        ReferralTally.objects.values("referrer_id", "channel", "state")
        .annotate(n_sum=Sum("n"), ordered_sum=Sum("ordered"), already_sum=Sum("already"))
        .order_by("referrer_id")
        .values_list("referrer_id", "channel", "state", "n_sum", "ordered_sum", "already_sum")
    )
    found: list[Mismatch] = []
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if connection.vendor == "postgresql" and outermost:  # both reads from one snapshot, whatever commits
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        kept = _by_referrer(kept_rows.iterator(chunk_size=5_000))
        counted = _by_referrer(_counted(None).iterator(chunk_size=5_000))
        k, c = next(kept, None), next(counted, None)
        while (k or c) and len(found) < limit:
            if c is None or (k is not None and k[0] < c[0]):
                if k is not None and k[1]:
                    found.append(Mismatch(k[0], k[1], {}))
                k = next(kept, None)
            elif k is None or c[0] < k[0]:
                found.append(Mismatch(c[0], {}, c[1]))
                c = next(counted, None)
            else:
                if k[1] != c[1]:
                    found.append(Mismatch(k[0], k[1], c[1]))
                k, c = next(kept, None), next(counted, None)
    return found


def rebuild_referral_tallies(*, referrer_ids: list[int] | None = None) -> int:
    """Replace the referrers' tally rows (every referrer's with None) by their referrals counted again; returns the
    rows written. Exact while referrals change: on PostgreSQL the delete and the count are one statement, so one
    snapshot (a change committed after it keeps its own delta row; one before it is counted and its delta deleted),
    after the compactors' lock so that no compaction commits in between."""
    counted_sql, params = _counted(referrer_ids).query.sql_with_params()
    among = "" if referrer_ids is None else f"WHERE referrer_id IN ({', '.join(['%s'] * len(referrer_ids))})"
    among_params = [] if referrer_ids is None else list(referrer_ids)
    insert = f"INSERT INTO {TALLY} ({COLUMNS}) SELECT c.*, %s FROM ({counted_sql}) AS c"  # noqa: S608 - our SQL
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [COMPACTION_LOCK])
            # The INSERT waits for the whole DELETE (its one-time filter reads it), or the compacted rows it writes
            # would meet the old ones in referral_tally_compacted (an unread CTE runs after the main statement).
            cursor.execute(
                f"WITH gone AS (DELETE FROM {TALLY} {among} RETURNING 1) {insert} "  # noqa: S608 - our SQL
                "WHERE (SELECT COUNT(*) FROM gone) >= 0",
                [*among_params, False, *params],
            )
        else:  # SQLite: one writer at a time, from the DELETE on
            cursor.execute(f"DELETE FROM {TALLY} {among}", among_params)  # noqa: S608 - our table
            cursor.execute(insert, [False, *params])
        return cursor.rowcount
