"""Where a credit task's time goes, in-process (not a benchmark: `bench/run.py` does not run it).

Seeds BENCH_TASKS (1,000) due referrals like bench/crediting_bench.py, then runs `credit_referral_task`'s body for
each in a loop with the outbox dispatched inline after commit, as in a Celery worker (publishing to
BENCH_BROKER_URL, default Redis db 7; the e-mail tasks published there are deleted at the end). Prints, per task:
wall ms, this process's CPU ms, the PostgreSQL backend's CPU ms and SQL statements; PROFILE=1 adds a cProfile by
CPU time.

    python bench/profile_credit_task.py
    PROFILE=1 BENCH_TASKS=500 python bench/profile_credit_task.py
Environment: BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/rp_profile_credit; dropped and created).
"""

from __future__ import annotations

import cProfile
import os
import pstats
import sys
import time
from pathlib import Path

import psycopg
import redis

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cpu import cpu_seconds
from crediting_bench import SEED, seed_params
from sweepdb import fresh_database, setup_django, sql

DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/rp_profile_credit")
BROKER_URL = os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/7")
TASKS = int(os.environ.get("BENCH_TASKS", "1000"))
WARM = 20


def main() -> int:
    fresh_database(DATABASE_URL)
    setup_django(DATABASE_URL, CELERY_BROKER_URL=BROKER_URL)
    from django.db import connection
    from django.db.backends.utils import CursorWrapper

    from ops import dispatcher
    from referrals.models import Referral
    from referrals.tasks import credit_referral_task

    dispatcher.use("inline")  # as in a worker process
    with psycopg.connect(DATABASE_URL, autocommit=True) as conn:
        for statement in SEED.split(";\n"):
            if statement.strip():
                sql(conn, statement, seed_params(max(1, TASKS // 10), TASKS))
        sql(conn, "VACUUM ANALYZE")
    ids = list(Referral.objects.order_by("pk").values_list("pk", flat=True))
    for pk in ids[:WARM]:
        credit_referral_task.run(pk)
    ids = ids[WARM:]
    backend = [connection.connection.info.backend_pid]
    statements = [0]
    execute = CursorWrapper.execute

    def counted(self, *args, **kwargs):
        statements[0] += 1
        return execute(self, *args, **kwargs)

    CursorWrapper.execute = counted
    profile = cProfile.Profile(time.process_time) if os.environ.get("PROFILE") == "1" else None
    cpu, db_cpu, started = time.process_time(), cpu_seconds(backend), time.perf_counter()
    if profile:
        profile.enable()
    for pk in ids:
        credit_referral_task.run(pk)
    if profile:
        profile.disable()
    n = len(ids)
    print(
        f"{n} credit tasks: {1000 * (time.perf_counter() - started) / n:.2f} ms wall, "
        f"{1000 * (time.process_time() - cpu) / n:.2f} ms Python CPU, "
        f"{1000 * (cpu_seconds(backend) - db_cpu) / n:.2f} ms PostgreSQL CPU, "
        f"{statements[0] / n:.1f} statements per task"
    )
    redis.Redis.from_url(BROKER_URL).delete("celery")  # the e-mail tasks the credits published
    if profile:
        pstats.Stats(profile).sort_stats("cumulative").print_stats(40)
    return 0


if __name__ == "__main__":
    sys.exit(main())
