"""Where a staff page's time goes at marketplace scale: the dashboard and the big changelists profiled in-process.

Runs after `python bench/run.py scale` has seeded its database (BENCH_SCALE_DATABASE_URL, default
.../rp_bench_scale); renders each staff page PROFILE_REQUESTS times through Django's test client as a superuser
(DEBUG off, the cached template loader) and prints the time per request, the SQL time, where the Python went
(template rendering, ORM, database, our code) and the top functions.

    python bench/profile_staff_pages.py
    PROFILE_PAGES=/admin/dashboard/ PROFILE_SORT=cumulative python bench/profile_staff_pages.py

Environment: PROFILE_REQUESTS (20), PROFILE_TOP (25), PROFILE_SORT (tottime).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from cprofile_buckets import bucket_of, profile  # noqa: E402
from cpu import setup_in_process  # noqa: E402

setup_in_process(
    os.environ.get("BENCH_SCALE_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/rp_bench_scale"),
    DJANGO_SETTINGS_MODULE="referral_portal.settings",
    STAFF_REQUIRE_2FA="0",
    VAR_DIR=os.environ.get("PROFILE_VAR_DIR") or str(ROOT / "var" / "profile_staff_pages"),
)

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402

from accounts.models import User  # noqa: E402

REQUESTS = int(os.environ.get("PROFILE_REQUESTS", "20"))
TOP = int(os.environ.get("PROFILE_TOP", "25"))
SORT = os.environ.get("PROFILE_SORT", "tottime")
BUCKETS = [
    ("template rendering", ("django/template/", "django/templatetags/", "jinja2/")),
    ("translation, formats", ("django/utils/translation/", "gettext.py", "django/utils/formats", "dateformat")),
    ("admin (changelist, display)", ("django/contrib/admin/",)),
    ("ORM: building and compiling SQL", ("django/db/models/", "django/db/backends/base/operations")),
    ("database round trips", ("psycopg", "django/db/backends/")),
    ("URL reversing", ("django/urls/",)),
]


def _bucket(filename: str) -> str:
    return bucket_of(filename, BUCKETS, ours="our code", other="other (request cycle, Python)")


def main() -> int:
    call_command("collectstatic", interactive=False, verbosity=0)
    staff = User.objects.get(email="bench-staff@example.com")
    big = User.objects.get(email="bench-biggest@example.com")
    pages = [
        "/admin/dashboard/",
        "/admin/referrals/referralreview/",
        "/admin/referrals/referral/",
        "/admin/accounts/user/",
        f"/admin/accounts/user/{big.pk}/change/",
        "/admin/coupons/coupon/",
    ]
    only = os.environ.get("PROFILE_PAGES")
    client = Client()
    client.force_login(staff)
    for path in pages:
        if only and not any(part in path for part in only.split(",")):
            continue
        for _ in range(3):
            response = client.get(path)
            assert response.status_code == 200, (path, response.status_code)
        sql_ms: list[float] = []

        def timed(execute, sql, params, many, context, seen=sql_ms):
            started = time.perf_counter()
            try:
                return execute(sql, params, many, context)
            finally:
                seen.append((time.perf_counter() - started) * 1000)

        started, cpu_started = time.perf_counter(), time.process_time()
        with connection.execute_wrapper(timed):
            for _ in range(REQUESTS):
                client.get(path)
        wall = (time.perf_counter() - started) * 1000 / REQUESTS
        cpu = (time.process_time() - cpu_started) * 1000 / REQUESTS
        print(
            f"\n=== {path}: {wall:.1f} ms per request unprofiled ({cpu:.1f} ms CPU in Python), "
            f"{len(sql_ms) // REQUESTS} queries, {sum(sql_ms) / REQUESTS:.1f} ms in SQL; load {os.getloadavg()[0]:.1f}"
        )
        stats = profile(lambda c=client, p=path: c.get(p), REQUESTS, _bucket)
        stats.sort_stats(SORT).print_stats(TOP)
    return 0


if __name__ == "__main__":
    sys.exit(main())
