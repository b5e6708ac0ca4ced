"""Benchmark: the per-referral credit task against a no-op task, same broker, same worker, one run.

One Celery worker with two prefork processes (as `make run` starts it, production settings, Redis broker) drains a
queue of BENCH_TASKS messages of each kind, published before the worker starts; the rate is measured from the
first message taken to the queue being empty with nothing unacknowledged:
1. no-op: `bench.tasks.noop`;
2. credit: `referrals.tasks.credit_referral_task` for BENCH_TASKS due referrals (500 referrers, the limit biting);
3. credit "as before": the same with Celery closing the database connection around every task
   (CELERY_DB_REUSE_MAX=0) and every task's received/succeeded lines logged (CELERY_TASK_LOG_LEVEL=INFO).
It prints the rates, the ratio credit / no-op (target >= 0.3) and the worker's log lines per task.

    python bench/run.py celery                          # or: make bench
Environment: BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/rp_bench_celery; dropped and created),
BENCH_BROKER_URL (default redis://127.0.0.1:6379/3; the bench uses its own queue and deletes only its keys),
BENCH_TASKS (default 5000), BENCH_SCALE.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
import redis

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cpu import children, cpu_seconds, postgres_backends
from crediting_bench import SEED, seed_params
from sweepdb import PY, ROOT, bench_env, fresh_database, setup_django, sql

DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/rp_bench_celery")
BROKER_URL = os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/3")
TASKS = int(int(os.environ.get("BENCH_TASKS", "5000")) * float(os.environ.get("BENCH_SCALE", "1")))
QUEUE = "rp_bench_celery"
TARGET_RATIO = 0.3


def worker_env(**extra: str) -> dict[str, str]:
    return bench_env(DATABASE_URL, CELERY_BROKER_URL=BROKER_URL, LOG_LEVEL="INFO", **extra)


def drain(publish, **extra: str) -> tuple[float, float, float]:
    """Publish every message, start the worker, time the drain; returns (tasks/s, log lines per task, CPU ms per
    task of the worker's processes and their PostgreSQL backends: what the rate would be on an idle machine)."""
    broker = redis.Redis.from_url(BROKER_URL)
    broker.delete(QUEUE, "unacked", "unacked_index")
    publish()
    assert broker.llen(QUEUE) == TASKS, broker.llen(QUEUE)
    log = tempfile.NamedTemporaryFile("w+", suffix=".log", delete=False)  # noqa: SIM115 (the worker writes it)
    worker = subprocess.Popen(
        [
            PY,
            "-m",
            "celery",
            "-A",
            "referral_portal",
            "worker",
            "-c",
            "2",
            "-P",
            "prefork",
            "-Q",
            QUEUE,
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-l",
            "INFO",
        ],
        cwd=ROOT,
        env=worker_env(**extra),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 600
        while broker.llen(QUEUE) == TASKS:
            if worker.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the worker did not start: {Path(log.name).read_text()[-2000:]}")
            time.sleep(0.005)
        started = time.perf_counter()
        pids = children(worker.pid) + postgres_backends(DATABASE_URL)
        cpu = cpu_seconds(pids)
        lines_before = len(Path(log.name).read_text().splitlines())
        while broker.llen(QUEUE) or broker.hlen("unacked"):
            if time.monotonic() > deadline:
                raise RuntimeError("the queue did not drain in 10 minutes")
            time.sleep(0.005)
        seconds = time.perf_counter() - started
        # Backends opened after the start (a connection per task) are counted while they last.
        cpu_ms = (cpu_seconds(pids) - cpu) * 1000 / TASKS
        time.sleep(0.5)
        lines = len(Path(log.name).read_text().splitlines()) - lines_before
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=60)
        os.unlink(log.name)
    return TASKS / seconds, lines / TASKS, cpu_ms


def main() -> int:
    print(f"seeding {TASKS:,} due referrals across {max(1, TASKS // 10):,} referrers ...", flush=True)
    fresh_database(DATABASE_URL)
    setup_django(DATABASE_URL, CELERY_BROKER_URL=BROKER_URL)
    from bench.tasks import noop
    from referrals.models import Referral
    from referrals.tasks import credit_referral_task

    def reset_referrals() -> list[int]:
        with psycopg.connect(DATABASE_URL, autocommit=True) as conn:
            sql(
                conn,
                "TRUNCATE coupons_ledgerentry, coupons_coupon, referrals_referralevent, accounts_notification, "
                "referrals_monthlyrewardcounter CASCADE",
            )
            sql(
                conn,
                "UPDATE referrals_referral SET state = 'qualified', reason_code = '', credited_at = NULL, "
                "decided_at = NULL",
            )
            sql(conn, "VACUUM ANALYZE referrals_referral")
        return list(Referral.objects.order_by("pk").values_list("pk", flat=True))

    with psycopg.connect(DATABASE_URL, autocommit=True) as conn:
        for statement in SEED.split(";\n"):
            if statement.strip():
                sql(conn, statement, seed_params(max(1, TASKS // 10), TASKS))
    ids = reset_referrals()

    def publish_noop():
        for i in range(TASKS):
            noop.apply_async(args=[i], queue=QUEUE)

    def publish_credit():
        for pk in ids:
            credit_referral_task.apply_async(args=[pk], queue=QUEUE)

    def decided() -> int:
        return Referral.objects.filter(state__in=["credited", "capped"]).count()

    noop_rate, noop_lines, noop_cpu = drain(publish_noop)
    credit_rate, credit_lines, credit_cpu = drain(publish_credit)
    credited = decided()
    ids = reset_referrals()
    before_rate, before_lines, before_cpu = drain(publish_credit, CELERY_DB_REUSE_MAX="0", CELERY_TASK_LOG_LEVEL="INFO")
    for label, rate, per_task, cpu_ms in (
        ("no-op task", noop_rate, noop_lines, noop_cpu),
        ("credit task", credit_rate, credit_lines, credit_cpu),
        ("credit task, as before (*)", before_rate, before_lines, before_cpu),
    ):
        print(f"{label:28} {rate:8,.0f} tasks/s  {per_task:5.1f} log lines/task  {cpu_ms:6.2f} ms CPU/task")
    print("(*) connection closed around every task, every task logged; short-lived backends' CPU undercounted")
    ratio = credit_rate / noop_rate
    print(
        f"ratio credit / no-op: {ratio:.2f} wall, {noop_cpu / credit_cpu:.2f} by CPU (target >= {TARGET_RATIO}); "
        f"as before: {before_rate / noop_rate:.2f} wall"
    )
    ok = credited == TASKS == decided()
    print("every referral credited or capped by the tasks: " + ("yes" if ok else f"NO ({credited} of {TASKS})"))
    return 0 if ok and ratio >= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
