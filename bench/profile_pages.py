"""Where a first visit's time goes: Invite Friends and My Coupons profiled in-process (cProfile).

Runs after `python bench/run.py pages` has seeded its database (same members, same sessions table); renders
each page PROFILE_REQUESTS times through Django's test client with DEBUG off, the cached template loader and
the page caches off (a first visit), and prints the time per request and where it went: template rendering,
ORM query compilation, the database round trips, our own selectors/presenters, and the top functions.

    python bench/profile_pages.py                 # all pages
    PROFILE_PAGES=/invite/ python bench/profile_pages.py
    PROFILE_SORT=cumulative python bench/profile_pages.py

Environment: BENCH_DATABASE_URL (as pages_bench), PROFILE_REQUESTS (50), PROFILE_TOP (30).
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
    os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/rp_bench_pages"),
    DJANGO_SETTINGS_MODULE="bench.bench_settings",
    CONN_MAX_AGE="600",
    VAR_DIR=os.environ.get("PROFILE_VAR_DIR") or str(ROOT / "var" / "profile_pages"),
)

from django.core.management import call_command  # noqa: E402

call_command("collectstatic", interactive=False, verbosity=0)

from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY  # noqa: E402
from django.contrib.sessions.backends.db import SessionStore  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402

from accounts.models import User  # noqa: E402

REQUESTS = int(os.environ.get("PROFILE_REQUESTS", "50"))
TOP = int(os.environ.get("PROFILE_TOP", "30"))
SORT = os.environ.get("PROFILE_SORT", "tottime")
PAGES = [
    ("bare page", "/bench/bare/", ""),
    ("bare page, raw labels", "/bench/bare-raw/", ""),
    ("Invite Friends (20 referrals)", "/invite/", "bench-small@example.com"),
    ("Invite Friends (5,000 referrals)", "/invite/", "bench-member@example.com"),
    ("My Coupons (60 coupons + calculator)", "/coupons/", "bench-member@example.com"),
]
# Where a function's own time is counted (by the file it lives in).
BUCKETS = [
    ("template rendering", ("django/template/", "django/templatetags/", "jinja2/")),
    ("translation", ("django/utils/translation/", "gettext.py")),
    ("ORM: building and compiling SQL", ("django/db/models/", "django/db/backends/base/operations")),
    ("database round trips", ("psycopg", "django/db/backends/")),
    ("URL reversing", ("django/urls/",)),
]


def _client(email: str) -> Client:
    client = Client()
    if email:
        member = User.objects.get(email=email)
        session = SessionStore()
        session[SESSION_KEY] = str(member.pk)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = member.get_session_auth_hash()
        session.set_expiry(3600)
        session.create()
        client.cookies["sessionid"] = session.session_key
    return client


def _bucket(filename: str) -> str:
    ours = "our code (selectors, presenters, views, middleware)"
    return bucket_of(filename, BUCKETS, ours=ours, other="other (Django request cycle, Python)")


def main() -> int:
    only = os.environ.get("PROFILE_PAGES")
    for label, path, email in PAGES:
        if only and path not in only.split(","):
            continue
        client = _client(email)
        for _ in range(10):  # warm: templates compiled, connection open, translations loaded
            response = client.get(path)
            assert response.status_code == 200, (path, response.status_code)
        queries: list[str] = []

        def count(execute, sql, params, many, context, seen=queries):
            seen.append(sql)
            return execute(sql, params, many, context)

        with connection.execute_wrapper(count):
            client.get(path)
        started, cpu_started = time.perf_counter(), time.process_time()
        for _ in range(REQUESTS):
            client.get(path)
        wall = (time.perf_counter() - started) * 1000 / REQUESTS
        cpu = (time.process_time() - cpu_started) * 1000 / REQUESTS
        size = len(response.content) / 1024
        print(
            f"\n=== {label} {path}: {wall:.2f} ms per request unprofiled ({cpu:.2f} ms CPU here), {size:.1f} KiB, "
            f"{len(queries)} queries"
        )
        stats = profile(lambda c=client, p=path: c.get(p), REQUESTS, _bucket)
        stats.sort_stats(SORT).print_stats(TOP)
    return 0


if __name__ == "__main__":
    sys.exit(main())
