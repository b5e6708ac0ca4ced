"""Benchmark: the credit sweep against one raw SQL statement doing the same work on the same data, in one run.

Seeds BENCH_REFERRALS (100,000) qualified, due referrals across BENCH_REFERRERS (10,000) referrers, skewed so
that the monthly limit bites (many referrers have more than 10 due, many fewer), then:
1. raw: one SQL statement (a CTE) credits or caps every due referral: coupons, their 'issued' ledger rows, the
   referrals' state, timeline rows, notice rows (credited + monthly limit) and the monthly counters;
2. the same data restored (TRUNCATE of what step 1 wrote, referrals back to qualified, VACUUM ANALYZE);
3. the sweep: `referrals.services.credit_due_referrals()` in this process, as the beat task runs it.
It prints both rates, the ratio (target >= 0.3) and checks that both wrote the same number of rows of each kind.

    python bench/run.py crediting                       # or: make bench
    BENCH_SCALE=0.1 python bench/run.py crediting       # 10,000 referrals across 1,000 referrers
Environment: BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/rp_bench_crediting; dropped and
created), BENCH_REFERRALS, BENCH_REFERRERS, BENCH_SCALE (multiplies both), BENCH_BATCH (the sweep's batch size).
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

DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/rp_bench_crediting")
SCALE = float(os.environ.get("BENCH_SCALE", "1"))
REFERRALS = int(int(os.environ.get("BENCH_REFERRALS", "100000")) * SCALE)
REFERRERS = int(int(os.environ.get("BENCH_REFERRERS", "10000")) * SCALE)
TARGET_RATIO = 0.3
TABLES = (
    "coupons_coupon",
    "coupons_ledgerentry",
    "referrals_referralevent",
    "accounts_notification",
    "referrals_monthlyrewardcounter",
)

SEED = """
SELECT setseed(0.19) WHERE %(referrers)s > 0;
INSERT INTO accounts_user (password, is_superuser, email, email_normalized, first_name, last_name, country, language,
    time_zone, phone, status, status_reason, coins, is_staff, is_active, date_joined, level, level_points)
SELECT '!', false, 'm' || g || '@bench.example', 'm' || g || '@bench.example', 'Friend' || g, '', 'US', 'en',
    'UTC', '', 'active', '', 0, false, true, now() - interval '60 days', 'silver', 0
FROM generate_series(1, %(referrers)s + %(referrals)s) g;
INSERT INTO referrals_referralcode (code, is_active, created_at, user_id)
SELECT 'BENCH' || u.id, true, now(), u.id FROM accounts_user u ORDER BY u.id LIMIT %(referrers)s;
INSERT INTO referrals_referral (channel, state, reason_code, signals, terms, registered_at, completed_at,
    credit_due_at, updated_at, friend_id, referrer_id, code_id)
SELECT 'other', 'qualified', '', '{}', %(terms)s::jsonb, now() - interval '3 days',
    now() - interval '2 days' + g * interval '1 ms', now() - interval '1 day' + g * interval '1 ms', now(),
    f.id, c.user_id, c.id
FROM (SELECT g, %(referrers)s + g AS friend_id, 1 + floor(%(referrers)s * power(random(), 2))::int AS k
      FROM generate_series(1, %(referrals)s) g) s
JOIN accounts_user f ON f.id = (SELECT min(id) FROM accounts_user) - 1 + s.friend_id
JOIN referrals_referralcode c ON c.id = (SELECT min(id) FROM referrals_referralcode) - 1 + s.k
"""


def seed_params(referrers: int, referrals: int) -> dict:
    """SEED's parameters: the terms frozen at sign-up are those of the default region (US), as sign-up writes them."""
    import json

    from referrals.terms import snapshot_for

    terms = snapshot_for(friend_country="US", referrer_country="US", at=datetime.now(UTC))
    return {"referrers": referrers, "referrals": referrals, "terms": json.dumps(terms)}


# Referrer k of the referral is 1 + floor(REFERRERS * random()^2): skewed, so the limit of 10 a month bites for many
# referrers and not for others.

# One statement that does what the sweep does, with the region's terms and the program month as parameters.
RAW = """
WITH due AS (
    SELECT r.id, r.referrer_id, f.email AS friend_email, f.first_name AS friend_name,
           row_number() OVER (PARTITION BY r.referrer_id ORDER BY r.credit_due_at, r.id) AS n,
           count(*) OVER (PARTITION BY r.referrer_id) AS due_n
    FROM referrals_referral r JOIN accounts_user f ON f.id = r.friend_id
    WHERE r.state = 'qualified' AND r.credit_due_at <= %(now)s
), coupons AS (
    INSERT INTO coupons_coupon (kind, source, title, value, currency, min_spend, issued_at, expires_at, status,
        owner_id, referral_id)
    SELECT 'platform', 'referral', 'Referral reward', %(value)s, %(currency)s, %(min_spend)s, %(now)s,
        %(now)s + %(valid_days)s * interval '1 day', 'active', d.referrer_id, d.id
    FROM due d WHERE d.n <= %(limit)s
    RETURNING id, referral_id, owner_id, expires_at
), ledger AS (
    INSERT INTO coupons_ledgerentry (event, amount, currency, reason, idempotency_key, created_at, coupon_id,
        member_id, referral_id)
    SELECT 'issued', %(value)s, %(currency)s, 'Referral reward: first order of ' || d.friend_email || ' completed',
        'referral-reward:' || c.referral_id, %(now)s, c.id, c.owner_id, c.referral_id
    FROM coupons c JOIN due d ON d.id = c.referral_id
), moved AS (
    UPDATE referrals_referral r
    SET state = CASE WHEN d.n <= %(limit)s THEN 'credited' ELSE 'capped' END,
        reason_code = CASE WHEN d.n <= %(limit)s THEN '' ELSE 'MONTHLY_LIMIT' END,
        credited_at = CASE WHEN d.n <= %(limit)s THEN %(now)s::timestamptz END,
        decided_at = %(now)s, updated_at = %(now)s
    FROM due d WHERE r.id = d.id
), timeline AS (
    INSERT INTO referrals_referralevent (from_state, to_state, reason_code, actor_kind, note, occurred_at,
        recorded_at, referral_id)
    SELECT 'qualified', CASE WHEN c.id IS NULL THEN 'capped' ELSE 'credited' END,
        CASE WHEN c.id IS NULL THEN 'MONTHLY_LIMIT' ELSE '' END, 'system',
        CASE WHEN c.id IS NULL THEN %(limit)s || ' of ' || %(limit)s || ' referral coupons already credited for '
                 || %(month_words)s || '.'
             ELSE 'Coupon #' || c.id || ': ' || %(currency)s || ' ' || %(value)s || ' off ' || %(min_spend)s
                 || ', valid until ' || to_char(c.expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') || ' UTC.' END,
        %(now)s, %(now)s, d.id
    FROM due d LEFT JOIN coupons c ON c.referral_id = d.id
), notices AS (
    INSERT INTO accounts_notification (kind, title, body, link, dedupe_key, created_at, user_id)
    SELECT 'referral_credited', 'You earned a ' || %(amount)s || ' coupon',
        coalesce(nullif(d.friend_name, ''), 'your friend') || ' completed their first order, so we added a '
            || %(amount)s || ' coupon (minimum spend ' || %(minimum)s || ') to My Coupons. It is valid until '
            || to_char(c.expires_at AT TIME ZONE 'UTC', 'DD FMMonth YYYY') || '.',
        '/coupons/', 'referral-credited:' || d.id, %(now)s, d.referrer_id
    FROM coupons c JOIN due d ON d.id = c.referral_id
    UNION ALL
    SELECT DISTINCT ON (d.referrer_id) 'referral_monthly_limit',
        'You reached this month''s limit: ' || %(limit)s || ' of ' || %(limit)s || ' referral coupons',
        'You have received ' || %(limit)s || ' of ' || %(limit)s || ' referral coupons for ' || %(month_words)s
            || '. Friends who complete their first order later this month still count, but earn no coupon. '
            || 'The limit resets on the 1st.',
        '/invite/', 'referral-monthly-limit:' || d.referrer_id || ':' || %(month_key)s, %(now)s, d.referrer_id
    FROM due d WHERE d.due_n >= %(limit)s
)
INSERT INTO referrals_monthlyrewardcounter (referrer_id, month, count)
SELECT d.referrer_id, %(month)s, least(count(*), %(limit)s) FROM due d GROUP BY d.referrer_id
ON CONFLICT (referrer_id, month) DO UPDATE SET count = least(referrals_monthlyrewardcounter.count
    + EXCLUDED.count, %(limit)s)
"""

RESET = """
TRUNCATE coupons_ledgerentry, coupons_coupon, referrals_referralevent, accounts_notification,
    referrals_monthlyrewardcounter CASCADE;
UPDATE referrals_referral SET state = 'qualified', reason_code = '', credited_at = NULL, decided_at = NULL;
"""


def counts(conn) -> dict[str, int]:
    found = {table: sql(conn, f"SELECT count(*) FROM {table}")[0][0] for table in TABLES}  # noqa: S608 (constants)
    found["credited"] = sql(conn, "SELECT count(*) FROM referrals_referral WHERE state = 'credited'")[0][0]
    found["capped"] = sql(conn, "SELECT count(*) FROM referrals_referral WHERE state = 'capped'")[0][0]
    return found


def reset(conn) -> None:
    sql(conn, RESET)
    vacuum(DATABASE_URL, "referrals_referral", *TABLES)


def run_raw(conn, now: datetime) -> float:
    from accounts.models import Region
    from lib.money import format_money

    region = Region.objects.get(is_default=True)
    month = now.date().replace(day=1)
    params = {
        "now": now,
        "value": region.reward_amount,
        "min_spend": region.reward_min_spend,
        "currency": region.currency,
        "valid_days": region.coupon_valid_days,
        "limit": region.monthly_limit,
        "month": month,
        "month_words": f"{month:%B %Y}",
        "month_key": f"{month:%Y-%m}",
        "amount": format_money(region.reward_amount, region.currency, "en_US"),
        "minimum": format_money(region.reward_min_spend, region.currency, "en_US"),
    }
    pids = [conn.info.backend_pid]
    cpu, started = cpu_seconds(pids), time.perf_counter()
    with conn.transaction():
        sql(conn, RAW, params)
    return time.perf_counter() - started, cpu_seconds(pids) - cpu


def run_sweep() -> tuple[float, float, dict]:
    """Wall seconds, CPU seconds (this process + its PostgreSQL backend) and the sweep's outcomes."""
    from django.db import connection

    from referrals.services import credit_due_referrals

    connection.ensure_connection()
    backend = [connection.connection.info.backend_pid]
    pids = [os.getpid(), *backend]
    batch = int(os.environ.get("BENCH_BATCH", "0"))
    cpu, db_cpu, started = cpu_seconds(pids), cpu_seconds(backend), time.perf_counter()
    outcomes = credit_due_referrals(batch=batch) if batch else credit_due_referrals()
    seconds, used = time.perf_counter() - started, cpu_seconds(pids) - cpu
    db_used = cpu_seconds(backend) - db_cpu
    print(f"sweep CPU: {used - db_used:.2f} s Python, {db_used:.2f} s PostgreSQL")
    return seconds, used, outcomes


def main() -> int:
    print(f"seeding {REFERRALS:,} due referrals across {REFERRERS:,} referrers ...", flush=True)
    fresh_database(DATABASE_URL)
    setup_django(DATABASE_URL)
    with psycopg.connect(DATABASE_URL, autocommit=True) as conn:
        for statement in SEED.split(";\n"):
            if statement.strip():
                sql(conn, statement, seed_params(REFERRERS, REFERRALS))
        vacuum(DATABASE_URL, "accounts_user", "referrals_referralcode", "referrals_referral")
        now = datetime.now(UTC)
        raw_seconds, raw_cpu = run_raw(conn, now)
        raw_rows = counts(conn)
        reset(conn)
        sweep_seconds, sweep_cpu, outcomes = run_sweep()
        sweep_rows = counts(conn)
    raw_rate, sweep_rate = REFERRALS / raw_seconds, REFERRALS / sweep_seconds
    ratio, cpu_ratio = sweep_rate / raw_rate, raw_cpu / sweep_cpu
    print(f"raw SQL (one statement): {raw_seconds:7.2f} s ({raw_cpu:6.2f} s CPU)  {raw_rate:8,.0f} referrals/s")
    print(f"credit sweep:            {sweep_seconds:7.2f} s ({sweep_cpu:6.2f} s CPU)  {sweep_rate:8,.0f} referrals/s")
    print(f"rows written (raw):   {raw_rows}")
    print(f"rows written (sweep): {sweep_rows}; outcomes {outcomes}")
    print(f"ratio sweep / raw: {ratio:.2f} wall, {cpu_ratio:.2f} by CPU (target >= {TARGET_RATIO})")
    print(f"a backlog of 1,000,000 due referrals: {1_000_000 / sweep_rate / 60:.1f} min at this rate")
    same = raw_rows == sweep_rows
    print("same rows written by both: " + ("yes" if same else "NO"))
    return 0 if same and ratio >= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
