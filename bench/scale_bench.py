"""Member and staff pages at marketplace scale: p95 per page and a sequential-scan check of every query.

    python bench/run.py scale        # or: make bench (all benchmarks)

1. creates (once) the PostgreSQL database BENCH_SCALE_DATABASE_URL (default .../rp_bench_scale), migrates it and
   seeds it with bench/scale_seed.py (100,000 members, 200,000 friends and referrals, 1,000,000 clicks,
   500,000 coupons; about four minutes, once);
2. renders every member page for a typical member (5 referrals) and for the biggest referrer (5,000 referrals),
   and the staff pages for a superuser, through Django's test client in one process (DEBUG off, the cached
   template loader, page caches OFF: every request is a first visit), SCALE_REQUESTS times each (default 20)
   after two warm-up requests, and prints p50 / p95 / queries;
   (SCALE_ONLY=/admin/ measures only the pages whose path contains it);
3. runs EXPLAIN on every SELECT each page sent and lists any sequential scan of a big table (more than
   10,000 rows): the targets are p95 < 100 ms (typical member, staff) / < 300 ms (biggest referrer) and none.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cpu import ensure_database, server_env

ROOT = Path(__file__).resolve().parent.parent
DATABASE_URL = os.environ.get("BENCH_SCALE_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/rp_bench_scale")
REQUESTS = int(os.environ.get("SCALE_REQUESTS", "20"))
BIG_TABLE_ROWS = 10_000


def _env() -> dict[str, str]:
    # First visits: no funnel cache.
    return server_env(
        DATABASE_URL,
        DJANGO_SETTINGS_MODULE="referral_portal.settings",
        STAFF_REQUIRE_2FA="0",
        INVITE_FUNNEL_CACHE_SECONDS="0",
    )


MEASURE = r"""
import json, os, statistics, time
import django
django.setup()
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from accounts.models import User
from referrals.models import Referral

REQUESTS = int(os.environ["SCALE_REQUESTS"])
big = User.objects.get(email="bench-biggest@example.com")
typical = User.objects.get(email="bench-typical@example.com")
staff, _ = User.objects.get_or_create(email="bench-staff@example.com", defaults={"first_name": "Staff"})
if not staff.is_superuser:
    staff.is_staff = staff.is_superuser = True
    staff.set_password("bench-password")
    staff.save()
referral = Referral.objects.filter(referrer=big).order_by("-registered_at").first()
with connection.cursor() as cursor:
    cursor.execute("SELECT relname FROM pg_class WHERE relkind = 'r' AND reltuples > %s", [int(os.environ["BIG"])])
    big_tables = {row[0] for row in cursor.fetchall()}

member_pages = [
    "/invite/", "/coupons/", "/accounts/rewards/", "/accounts/profile/",
    "/orders/", "/support/", "/invite/rules/", "/shop/",
]
if os.environ.get("SCALE_EXTRA_MEMBER_PAGES"):
    member_pages += os.environ["SCALE_EXTRA_MEMBER_PAGES"].split(",")
staff_pages = [
    "/admin/dashboard/",
    "/admin/referrals/referralreview/",
    "/admin/referrals/referral/",
    f"/admin/referrals/referral/{referral.pk}/change/",
    "/admin/accounts/user/",
    f"/admin/accounts/user/{big.pk}/change/",
    "/admin/coupons/coupon/",
]
plan = [("typical member", typical, p) for p in member_pages]
plan += [("biggest referrer", big, p) for p in member_pages]
plan += [("staff", staff, p) for p in staff_pages]
if os.environ.get("SCALE_ONLY"):  # e.g. SCALE_ONLY=/admin/ : only the pages whose path contains it
    plan = [step for step in plan if os.environ["SCALE_ONLY"] in step[2]]
if os.environ.get("SCALE_SKIP"):  # e.g. SCALE_SKIP=/change/ : leave out the pages whose path contains it
    plan = [step for step in plan if os.environ["SCALE_SKIP"] not in step[2]]


def seq_scans(sql):
    if not sql.lstrip().upper().startswith("SELECT"):
        return []
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql)
        plan = cursor.fetchone()[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    found = []
    def walk(node):
        if node.get("Node Type") == "Seq Scan" and node.get("Relation Name") in big_tables:
            found.append(node["Relation Name"])
        for child in node.get("Plans", []):
            walk(child)
    walk(plan[0]["Plan"])
    return found


results = []
for who, user, path in plan:
    client = Client()
    client.force_login(user)
    for _ in range(2):
        response = client.get(path)
    assert response.status_code == 200, (who, path, response.status_code)
    times = []
    for _ in range(REQUESTS):
        started = time.perf_counter()
        client.get(path)
        times.append((time.perf_counter() - started) * 1000)
    with CaptureQueriesContext(connection) as queries:
        client.get(path)
    scans = sorted({t for q in queries.captured_queries for t in seq_scans(q["sql"])})
    times.sort()
    results.append({
        "who": who, "path": path, "p50_ms": statistics.median(times),
        "p95_ms": times[max(int(len(times) * 0.95) - 1, 0)], "queries": len(queries.captured_queries),
        "seq_scans": scans,
    })
print(json.dumps(results))
"""


def main() -> int:
    ensure_database(DATABASE_URL)
    env = _env()
    env["VAR_DIR"] = tempfile.mkdtemp(prefix="rp_bench_scale_")
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "--noinput", "-v0"], env=env, check=True, cwd=ROOT)
    subprocess.run([*manage, "collectstatic", "--noinput", "-v0"], env=env, check=True, cwd=ROOT)
    started = time.monotonic()
    subprocess.run([sys.executable, str(ROOT / "bench" / "scale_seed.py")], env=env, check=True, cwd=ROOT)
    print(f"seeded in {time.monotonic() - started:.0f}s (0 when already seeded)", flush=True)
    env.update(SCALE_REQUESTS=str(REQUESTS), BIG=str(BIG_TABLE_ROWS))
    out = subprocess.run(
        [sys.executable, "-c", MEASURE], env=env, check=True, cwd=ROOT, stdout=subprocess.PIPE, text=True
    ).stdout
    results = json.loads(out.strip().splitlines()[-1])
    failures = 0
    print(f"{REQUESTS} requests per page after 2 warm-ups; page caches off; load average {os.getloadavg()[0]:.1f}")
    print(f"{'who':17} {'page':44} {'p50 ms':>7} {'p95 ms':>7} {'target':>7} {'queries':>7}  seq scans of big tables")
    for r in results:
        target = 300 if r["who"] == "biggest referrer" else 100
        ok = r["p95_ms"] < target and not r["seq_scans"]
        failures += not ok
        print(
            f"{r['who']:17} {r['path']:44} {r['p50_ms']:7.1f} {r['p95_ms']:7.1f} {target:7d} {r['queries']:7d}  "
            f"{', '.join(r['seq_scans']) or '-'}{'' if ok else '   <-- MISSED'}"
        )
    print(f"{failures} page(s) missed the target" if failures else "every page met its target")
    print(json.dumps({"results": results, "p95_median_ms": statistics.median(r["p95_ms"] for r in results)}))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
