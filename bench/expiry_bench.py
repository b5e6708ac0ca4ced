"""Benchmark: the coupon expiry sweep against raw batched SQL on the same data, in one run.

Seeds BENCH_COUPONS (1,000,000) active coupons past their expiry across 10,000 owners, plus 100,000 that are
still valid, then times on the same data (restored between runs: TRUNCATE of the ledger, coupons back to
active, VACUUM ANALYZE):
1. raw, same work: batches of 5,000, each ONE statement in its own transaction that claims
   (keyset on expires_at, id; FOR UPDATE SKIP LOCKED), UPDATEs the coupons and INSERTs their 'expired'
   ledger rows;
2. the sweep: `coupons.services.expire_overdue_coupons()` in this process, as the beat task runs it;
3. raw UPDATE only: the same batched UPDATE without the ledger rows (what the sweep would cost if the
   ledger did not have to explain each expiry).
It prints the three rates and the ratios of the sweep to each (target >= 0.8).

    python bench/run.py expiry                          # or: make bench
    BENCH_SCALE=0.1 python bench/run.py expiry          # 100,000 coupons
Environment: BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/rp_bench_expiry; dropped and
created), BENCH_COUPONS, BENCH_SCALE.
"""

from __future__ import annotations

import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cpu import cpu_seconds
from sweepdb import fresh_database, setup_django, sql, vacuum

DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/rp_bench_expiry")
SCALE = float(os.environ.get("BENCH_SCALE", "1"))
COUPONS = int(int(os.environ.get("BENCH_COUPONS", "1000000")) * SCALE)
OWNERS = max(1, int(10_000 * SCALE))
BATCH = 5000
TARGET_RATIO = 0.8

SEED = [
    """INSERT INTO accounts_user (password, is_superuser, email, email_normalized, first_name, last_name, country,
        language, time_zone, phone, status, status_reason, coins, is_staff, is_active, date_joined, level,
        level_points)
    SELECT '!', false, 'o' || g || '@bench.example', 'o' || g || '@bench.example', 'Owner' || g, '', 'US', 'en',
        'UTC', '', 'active', '', 0, false, true, now() - interval '90 days', 'silver', 0
    FROM generate_series(1, %(owners)s) g""",
    # Overdue: expired between 60 days and 1 minute ago; then 10 % still valid (the claim must not touch them).
    """INSERT INTO coupons_coupon (kind, source, title, value, currency, min_spend, issued_at, expires_at, status,
        owner_id)
    SELECT 'platform', 'staff', 'Bench coupon', 5.00, 'USD', 20.00, e - interval '30 days', e, 'active',
        (SELECT min(id) FROM accounts_user) + g %% %(owners)s
    FROM (SELECT g, now() - interval '1 minute' - (g %% 86400) * interval '60 seconds' AS e
          FROM generate_series(1, %(coupons)s) g) s""",
    """INSERT INTO coupons_coupon (kind, source, title, value, currency, min_spend, issued_at, expires_at, status,
        owner_id)
    SELECT 'platform', 'staff', 'Bench coupon', 5.00, 'USD', 20.00, now(), now() + interval '10 days', 'active',
        (SELECT min(id) FROM accounts_user) + g %% %(owners)s
    FROM generate_series(1, %(coupons)s / 10) g""",
]


RAW_WITH_LEDGER = """
WITH batch AS (
    SELECT id FROM coupons_coupon
    WHERE status = 'active' AND expires_at <= %(now)s AND (expires_at, id) > (%(after_at)s, %(after_id)s)
    ORDER BY expires_at, id LIMIT %(batch)s FOR UPDATE SKIP LOCKED
),
moved AS (
    UPDATE coupons_coupon c SET status = 'expired', expired_at = %(now)s FROM batch
    WHERE c.id = batch.id AND c.status = 'active'
    RETURNING c.id, c.owner_id, c.value, c.currency, c.referral_id, c.expires_at
), ledger AS (
    INSERT INTO coupons_ledgerentry (event, amount, currency, reason, idempotency_key, created_at, coupon_id,
        member_id, referral_id)
    SELECT 'expired', -m.value, m.currency, 'Expired unused', 'expired:' || m.id, %(now)s, m.id, m.owner_id,
        m.referral_id
    FROM moved m
    ON CONFLICT DO NOTHING
)
SELECT expires_at, id, (SELECT count(*) FROM moved) FROM moved ORDER BY expires_at DESC, id DESC LIMIT 1
"""
RAW_UPDATE_ONLY = """
WITH batch AS (
    SELECT id FROM coupons_coupon
    WHERE status = 'active' AND expires_at <= %(now)s AND (expires_at, id) > (%(after_at)s, %(after_id)s)
    ORDER BY expires_at, id LIMIT %(batch)s FOR UPDATE SKIP LOCKED
),
moved AS (
    UPDATE coupons_coupon c SET status = 'expired', expired_at = %(now)s FROM batch
    WHERE c.id = batch.id AND c.status = 'active'
    RETURNING c.id, c.expires_at
)
SELECT expires_at, id, (SELECT count(*) FROM moved) FROM moved ORDER BY expires_at DESC, id DESC LIMIT 1
"""
RESET = [
    "TRUNCATE coupons_ledgerentry",
    "UPDATE coupons_coupon SET status = 'active', expired_at = NULL WHERE status = 'expired'",
]


def reset(conn) -> None:
    for statement in RESET:
        sql(conn, statement)
    vacuum(DATABASE_URL, "coupons_coupon", "coupons_ledgerentry")


def run_raw(conn, statement: str, now: datetime) -> tuple[float, float, int]:
    pids = [conn.info.backend_pid]
    cpu, started = cpu_seconds(pids), time.perf_counter()
    after_at, after_id, total = datetime(1970, 1, 1, tzinfo=UTC), 0, 0
    while True:
        rows = sql(conn, statement, {"now": now, "after_at": after_at, "after_id": after_id, "batch": BATCH})
        if not rows:
            break
        after_at, after_id, n = rows[0]
        total += n
        if n < BATCH:
            break
    return time.perf_counter() - started, cpu_seconds(pids) - cpu, total


def run_sweep(now: datetime) -> tuple[float, float, int]:
    from django.db import connection

    from coupons.services import expire_overdue_coupons

    connection.ensure_connection()
    pids = [os.getpid(), connection.connection.info.backend_pid]
    cpu, started = cpu_seconds(pids), time.perf_counter()
    total = expire_overdue_coupons(now=now)
    return time.perf_counter() - started, cpu_seconds(pids) - cpu, total


def main() -> int:
    print(f"seeding {COUPONS:,} overdue coupons (+{COUPONS // 10:,} still valid) across {OWNERS:,} owners ...")
    fresh_database(DATABASE_URL)
    setup_django(DATABASE_URL)
    with psycopg.connect(DATABASE_URL, autocommit=True) as conn:
        for statement in SEED:
            sql(conn, statement, {"owners": OWNERS, "coupons": COUPONS})
        vacuum(DATABASE_URL, "accounts_user", "coupons_coupon")
        now = datetime.now(UTC)
        raw = run_raw(conn, RAW_WITH_LEDGER, now)
        ledger_rows = sql(conn, "SELECT count(*) FROM coupons_ledgerentry")[0][0]
        reset(conn)
        sweep = run_sweep(now)
        sweep_ledger_rows = sql(conn, "SELECT count(*) FROM coupons_ledgerentry")[0][0]
        reset(conn)
        update_only = run_raw(conn, RAW_UPDATE_ONLY, now)
    for label, (seconds, cpu, n) in (
        ("raw, same work (UPDATE + ledger)", raw),
        ("expiry sweep", sweep),
        ("raw UPDATE only (no ledger)", update_only),
    ):
        print(f"{label:34} {seconds:7.2f} s ({cpu:6.2f} s CPU)  {n / seconds:9,.0f} coupons/s  ({n:,} expired)")
    ratio, cpu_ratio = raw[0] / sweep[0], raw[1] / sweep[1]
    print(f"ratio sweep / raw same work: {ratio:.2f} wall, {cpu_ratio:.2f} by CPU (target >= {TARGET_RATIO})")
    print(
        f"ratio sweep / raw UPDATE only: {update_only[0] / sweep[0]:.2f} wall, {update_only[1] / sweep[1]:.2f} by CPU"
    )
    same = raw[2] == sweep[2] == update_only[2] == COUPONS and ledger_rows == sweep_ledger_rows == COUPONS
    print("same coupons expired and ledger rows written by both: " + ("yes" if same else "NO"))
    return 0 if same and ratio >= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
