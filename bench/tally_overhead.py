"""What the kept referral counts cost the writers and save the reader (docs/performance.md, "Kept referral counts").

In-process, on PostgreSQL, a minute or two (not part of `make bench`):
1. seeds (once) a referrer with 10,000 referrals and one with 5,000 (seven states, three channels);
2. single-row UPDATEs that move a referral's state, one per transaction (the credit task's shape), and one UPDATE
   of 10,000 referrals (the credit sweep's shape), and one of 10,000 that moves no count, each with the tally
   triggers enabled and disabled (ALTER TABLE … DISABLE TRIGGER, rounds alternating): wall time and the
   PostgreSQL backend's CPU per row;
3. EXPLAIN ANALYZE of Invite Friends' referral counts for the 5,000-referral referrer: counted over the referrals
   (the old query) and summed from the kept rows, compacted and with a minute's worth of delta rows.

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/rp_bench_tally python bench/tally_overhead.py
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/rp_bench_tally")
os.environ["DATABASE_URL"] = DATABASE_URL
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "referral_portal.settings")
os.environ.setdefault("SECRET_KEY", "bench-only")
os.environ.setdefault("DEBUG", "1")

from cpu import cpu_seconds, ensure_database  # noqa: E402

ensure_database(DATABASE_URL)

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import DEFAULT_DB_ALIAS, connection, connections  # noqa: E402

from accounts.models import User  # noqa: E402
from lib import sqlonce  # noqa: E402
from referrals.models import Referral, ReferralCode  # noqa: E402
from referrals.selectors.funnel import by_channel_and_state, kept_by_channel_and_state  # noqa: E402
from referrals.services.tallies import compact_referral_tallies  # noqa: E402

SINGLE = int(os.environ.get("BENCH_SINGLE", "2000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
STATES = ["registered", "order_placed", "qualified", "credited", "under_review", "voided", "rejected"]
CHANNELS = ["whatsapp", "email", "qr"]


def seed(email: str, n: int) -> int:
    member = User.objects.filter(email=email).first()
    if member:
        return member.pk
    member = User.objects.create(email=email, email_normalized=email, first_name="Bench", password="!")
    code = ReferralCode.objects.create(user=member, code=f"TALLY{member.pk}")
    friends = User.objects.bulk_create(
        [User(email=f"{i}.{email}", email_normalized=f"{i}.{email}", first_name="F", password="!") for i in range(n)]
    )
    rows = []
    for i, friend in enumerate(friends):
        state = STATES[i % len(STATES)]
        reason = "FIRST_ORDER_CANCELED" if state in ("voided", "rejected") else ""
        rows.append(
            Referral(
                referrer=member, friend=friend, code=code, channel=CHANNELS[i % 3], state=state, reason_code=reason
            )
        )
    Referral.objects.bulk_create(rows, batch_size=2000)
    return member.pk


def backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def triggers(on: bool) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"ALTER TABLE referrals_referral {'ENABLE' if on else 'DISABLE'} TRIGGER referrals_tally_updated"
        )


def timed(work) -> tuple[float, float]:
    """(wall seconds, PostgreSQL backend CPU seconds) of work()."""
    pid = backend_pid()
    cpu, wall = cpu_seconds([pid]), time.perf_counter()
    work()
    return time.perf_counter() - wall, cpu_seconds([pid]) - cpu


def single_rows(ids: list[int], flip: list[int]) -> None:
    state = ["credited", "qualified"][flip[0] % 2]
    flip[0] += 1
    with connection.cursor() as cursor:
        for pk in ids:  # autocommit: one transaction per UPDATE, like one credit task each
            cursor.execute("UPDATE referrals_referral SET state = %s, updated_at = now() WHERE id = %s", [state, pk])


def bulk(referrer: int, flip: list[int], moves: bool) -> None:
    state = ["credited", "qualified"][flip[0] % 2]
    flip[0] += 1
    with connection.cursor() as cursor:
        if moves:
            cursor.execute("UPDATE referrals_referral SET state = %s WHERE referrer_id = %s", [state, referrer])
        else:
            cursor.execute("UPDATE referrals_referral SET updated_at = now() WHERE referrer_id = %s", [referrer])


def compare(label: str, rows: int, work) -> None:
    results: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
    for _ in range(ROUNDS):
        for on in (False, True):
            triggers(on)
            results[on].append(timed(work))
    triggers(True)
    off = min(results[False])
    on = min(results[True])
    print(
        f"{label}: {rows} rows; best of {ROUNDS}: without triggers {off[0] / rows * 1e6:.1f} µs wall, "
        f"{off[1] / rows * 1e6:.1f} µs PostgreSQL CPU per row; with {on[0] / rows * 1e6:.1f} µs wall, "
        f"{on[1] / rows * 1e6:.1f} µs CPU; overhead {(on[0] - off[0]) / rows * 1e6:+.1f} µs wall per row"
    )


def explain(label: str, build, member_id: int, *, index_path: bool = False) -> None:
    sqlonce.rows(build, member_id)  # compiled once, as on the page
    compiled = connections[DEFAULT_DB_ALIAS].__dict__["_sqlonce"][(build, 1)]
    params = [member_id if slot == 0 else p for p, slot in zip(compiled.params, compiled.slots, strict=True)]
    with connection.cursor() as cursor:
        # A referrer with a third of this small table's referrals gets a sequential scan; among 200,000 referrals
        # (bench/scale_seed.py) the planner reads them through referral_referrer_idx, as forced here.
        cursor.execute(f"SET enable_seqscan = {'off' if index_path else 'on'}")
        best = None
        for _ in range(5):
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + compiled.sql, params)
            plan = [line for (line,) in cursor.fetchall()]
            ms = float(plan[-1].split()[-2])
            if best is None or ms < best[0]:
                best = (ms, plan)
        cursor.execute("SET enable_seqscan = on")
    print(f"\n{label}: execution {best[0]:.3f} ms (best of 5)")
    print("\n".join("   " + line for line in best[1]))


def main() -> None:
    call_command("migrate", verbosity=0)
    big = seed("tally-10k@bench.example", 10_000)
    page = seed("tally-5k@bench.example", 5_000)
    connection.ensure_connection()
    compact_referral_tallies()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE referrals_referral")
        cursor.execute("VACUUM ANALYZE referrals_referraltally")
    ids = list(Referral.objects.filter(referrer_id=big).order_by("pk").values_list("pk", flat=True)[:SINGLE])
    flip = [0]
    compare("single-row UPDATE moving the state, one per transaction", len(ids), lambda: single_rows(ids, flip))
    compare("one UPDATE of 10,000 referrals moving the state", 10_000, lambda: bulk(big, flip, True))
    compare("one UPDATE of 10,000 referrals moving no count", 10_000, lambda: bulk(big, flip, False))
    wall = time.perf_counter()
    done = compact_referral_tallies()
    print(f"\ncompaction afterwards: {done} in {(time.perf_counter() - wall) * 1000:.1f} ms")

    explain("Referral counts counted over 5,000 referrals (before)", by_channel_and_state, page)
    explain(
        "The same through referral_referrer_idx (a referrer among many)", by_channel_and_state, page, index_path=True
    )
    explain("Referral counts summed from the compacted tally (after)", kept_by_channel_and_state, page)
    # A busy minute before the next compaction: 100 single-row state changes, each a delta row.
    few = list(Referral.objects.filter(referrer_id=page).order_by("pk").values_list("pk", flat=True)[:100])
    single_rows(few, [1])
    explain("... with 100 delta rows not compacted yet", kept_by_channel_and_state, page)
    single_rows(few, [0])
    compact_referral_tallies()


if __name__ == "__main__":
    main()
