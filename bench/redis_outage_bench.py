"""Benchmark: the shop's order events while Redis hangs (issue 19). Not part of `make test`.

A gunicorn web tier as docs/deployment.md runs it (2 workers × 4 threads) on PostgreSQL, with the cache
and the broker on a redis-server of the bench's own. BENCH_EVENTS friends' first orders are placed while
Redis answers; then Redis is frozen (SIGSTOP) and their completions arrive open-loop at BENCH_RATE events/s
(the shop does not wait for slow answers; BENCH_FREEZE=0 runs the same with Redis answering). Prints the
events/s answered, p50/p99/max latency, the answers, and the CPU per completion (the gunicorn workers and
their PostgreSQL backends, from /proc: bench/cpu.py).

    python bench/redis_outage_bench.py                       # this tree
    BENCH_ROOT=/tmp/rp_before python bench/redis_outage_bench.py   # another tree (e.g. `git archive main`)
Environment: BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/rp_bench_outage; dropped and
created afresh), BENCH_EVENTS (200), BENCH_RATE (50), BENCH_PORT (8766).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cpu import children, cpu_seconds, postgres_backends

ROOT = Path(os.environ.get("BENCH_ROOT") or Path(__file__).resolve().parent.parent)
PY = sys.executable
DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/rp_bench_outage")
EVENTS = int(os.environ.get("BENCH_EVENTS", "200"))
RATE = float(os.environ.get("BENCH_RATE", "50"))
PORT = int(os.environ.get("BENCH_PORT", "8766"))
HOST = "127.0.0.1"  # loopback only
SECRET = "bench-outage"  # the bench server's own signing secret, loopback only
TARGET_P99 = 1.0
FREEZE = os.environ.get("BENCH_FREEZE", "1") == "1"  # 0: the same run with Redis answering (the baseline)
GUNICORN = ["-w", "2", "--threads", "4", "--log-level", "warning"]  # docs/deployment.md on 2 cores

SETUP = """
import json
from django.conf import settings
from django.contrib.auth.hashers import get_hashers
settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # setup only: nobody logs in
get_hashers.cache_clear()
from tests.factories import ReferralFactory, StoreFactory
StoreFactory(slug="bench-store")
print(json.dumps([ReferralFactory().friend.email for _ in range({n})]))
"""
CREDITS = (
    "from ops.models import OutboxMessage; print(OutboxMessage.objects.filter(dispatched_at__isnull=True).count())"
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def fresh_database() -> None:
    name = DATABASE_URL.rsplit("/", 1)[1]
    admin_url = DATABASE_URL.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def server_env(redis_port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "DJANGO_SETTINGS_MODULE"}}
    env.update(
        DJANGO_SETTINGS_MODULE="referral_portal.settings",
        DEBUG="0",
        SECRET_KEY="bench-only-" + "k" * 50,
        ALLOWED_HOSTS=HOST,
        DATABASE_URL=DATABASE_URL,
        CACHE_URL=f"redis://{HOST}:{redis_port}/0",
        CELERY_BROKER_URL=f"redis://{HOST}:{redis_port}/1",
        CONN_MAX_AGE="600",
        SECURE_COOKIES="0",
        LOG_LEVEL="ERROR",
        ORDER_EVENTS_SECRETS=SECRET,
        ORDER_EVENTS_RATE_LIMIT="100000",
        EMAIL_URL="dummymail://",
        VAR_DIR=tempfile.mkdtemp(prefix="rp_bench_outage_"),
    )
    return env


def manage(env: dict[str, str], *args: str) -> str:
    return subprocess.run(
        [PY, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True, text=True, timeout=600
    ).stdout


def post_event(url: str, payload: dict, timeout: float = 300) -> tuple[int, float]:
    body = json.dumps(payload).encode()
    stamp = str(int(time.time()))
    digest = hmac.new(SECRET.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    request = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/json", "Shop-Signature": f"t={stamp},v1={digest}"}
    )
    sent = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            status = answer.status
    except urllib.error.HTTPError as error:
        status = error.code
    except OSError:
        status = 0
    return status, time.monotonic() - sent


def placed(n: int, email: str) -> dict:
    now = datetime.now(UTC).isoformat()
    order = {"id": f"BENCH-{n}", "amount": {"total": "30.00", "currency": "USD"}}
    order["lines"] = [{"store": "bench-store", "name": "Mug", "quantity": 1, "unit_price": "30.00"}]
    order["payment"] = {"card_fingerprint": f"fp_bench_{n}"}
    return {"id": f"bench-placed-{n}", "type": "order.placed", "occurred_at": now, "member": {"email": email}} | {
        "order": order
    }


def completed(n: int) -> dict:
    now = datetime.now(UTC).isoformat()
    return {"id": f"bench-done-{n}", "type": "order.completed", "occurred_at": now, "order": {"id": f"BENCH-{n}"}}


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(len(ordered) * p + 0.999999) - 1))]


def main() -> int:
    redis_binary = shutil.which("redis-server")
    if redis_binary is None:
        print("redis-server is not installed")
        return 1
    redis_port = free_port()
    redis_dir = tempfile.mkdtemp(prefix="rp_bench_redis_")
    redis = subprocess.Popen(
        [
            redis_binary,
            "--port",
            str(redis_port),
            "--bind",
            HOST,
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            redis_dir,
        ],
        stdout=subprocess.DEVNULL,
    )
    env = server_env(redis_port)
    gunicorn = None
    try:
        fresh_database()
        manage(env, "migrate", "--noinput", "-v", "0")
        emails = json.loads(manage(env, "shell", "-c", SETUP.format(n=EVENTS)).strip().splitlines()[-1])
        gunicorn = subprocess.Popen(
            [PY, "-m", "gunicorn", "referral_portal.wsgi", *GUNICORN, "-b", f"{HOST}:{PORT}", "--timeout", "300"],
            cwd=ROOT,
            env=env,
            start_new_session=True,
        )
        base = f"http://{HOST}:{PORT}"
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{base}/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        url = f"{base}/api/order-events/"
        with ThreadPoolExecutor(8) as pool:  # Redis answering: the orders are placed
            healthy = list(pool.map(lambda item: post_event(url, placed(*item)), enumerate(emails)))
        assert {status for status, _ in healthy} == {200}, {status for status, _ in healthy}

        server = children(gunicorn.pid)  # the workers
        backends = postgres_backends(DATABASE_URL)
        cpu_before = {pid: cpu_seconds([pid]) for pid in server + backends}
        if FREEZE:
            os.kill(redis.pid, signal.SIGSTOP)
        results: list[tuple[int, float]] = [(0, 0.0)] * EVENTS
        started = time.monotonic()

        def send(n: int) -> None:
            results[n] = post_event(url, completed(n))

        threads = []
        for n in range(EVENTS):  # open loop: one event every 1/RATE s whatever the answers take
            time.sleep(max(0.0, started + n / RATE - time.monotonic()))
            thread = threading.Thread(target=send, args=(n,))
            thread.start()
            threads.append(thread)
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started
        # CPU the completions cost: the workers, and their PostgreSQL backends (any opened meanwhile in full).
        backends_after = postgres_backends(DATABASE_URL)
        worker_cpu = sum(cpu_seconds([pid]) - cpu_before[pid] for pid in server)
        db_cpu = sum(cpu_seconds([pid]) - cpu_before.get(pid, 0.0) for pid in set(backends + backends_after))
        os.kill(redis.pid, signal.SIGCONT)
        latencies = [seconds for _, seconds in results]
        statuses: dict[int, int] = {}
        for status, _ in results:
            statuses[status] = statuses.get(status, 0) + 1
        p99 = percentile(latencies, 0.99)
        print(f"tree: {ROOT}")
        print(
            f"Redis answering: {EVENTS} order.placed, p50 {percentile([s for _, s in healthy], 0.5) * 1000:.0f} ms, "
            f"p99 {percentile([s for _, s in healthy], 0.99) * 1000:.0f} ms"
        )
        print(
            f"Redis {'frozen' if FREEZE else 'answering'}: {EVENTS} order.completed sent at {RATE:.0f}/s, "
            f"answered in {elapsed:.1f} s = "
            f"{EVENTS / elapsed:.1f} events/s; p50 {percentile(latencies, 0.5) * 1000:.0f} ms, "
            f"p99 {p99 * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms; answers {statuses}"
        )
        print(
            f"CPU per order.completed: {1000 * worker_cpu / EVENTS:.1f} ms gunicorn workers + "
            f"{1000 * db_cpu / EVENTS:.1f} ms PostgreSQL backends"
        )
        if FREEZE and (ROOT / "ops").exists():
            time.sleep(12)  # Redis back: the web processes' dispatchers relay the outbox within seconds
            pending = manage(env, "shell", "-v", "0", "-c", CREDITS).strip()
            print(f"outbox rows still pending 12 s after the thaw: {pending}")
        return 0 if p99 < TARGET_P99 and statuses == {200: EVENTS} else 1
    finally:
        if gunicorn is not None:
            os.killpg(gunicorn.pid, signal.SIGTERM)
            gunicorn.wait(timeout=30)
        os.kill(redis.pid, signal.SIGCONT)
        redis.terminate()
        redis.wait(timeout=10)
        shutil.rmtree(redis_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
