"""Invite Friends for the 5,000-referral member with the referral counts counted (the query before the kept counts)
and summed from `ReferralTally` (now), in-process, alternating: wall time, Python CPU and the PostgreSQL backend's
CPU per request, and whether both render the same HTML (docs/performance.md, "Kept referral counts").

Runs against a database seeded by `python bench/run.py pages` and migrated with this code (a copy is fine:
`createdb -T rp_bench_pages rp_mine`); it writes nothing but a session row and the collected static files.

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/rp_mine python bench/profile_tally_page.py
"""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from cpu import cpu_seconds, server_env  # noqa: E402

os.environ.update(
    server_env(
        os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/rp_bench_pages"),
        DJANGO_SETTINGS_MODULE="bench.bench_settings",
        CONN_MAX_AGE="600",
        VAR_DIR=os.environ.get("PROFILE_VAR_DIR") or str(ROOT / "var" / "profile_pages"),
    )
)
os.environ.pop("CACHE_URL", None)

import django  # noqa: E402

django.setup()

from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY  # noqa: E402
from django.contrib.sessions.backends.db import SessionStore  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402

from accounts.models import User  # noqa: E402
from referrals.selectors import funnel, tallies  # noqa: E402

REQUESTS = int(os.environ.get("PROFILE_REQUESTS", "100"))
ROUNDS = int(os.environ.get("PROFILE_ROUNDS", "3"))
MODES = {"counted (before)": funnel.by_channel_and_state, "kept (now)": funnel.kept_by_channel_and_state}


def main() -> None:
    call_command("collectstatic", interactive=False, verbosity=0)
    member = User.objects.get(email="bench-member@example.com")
    session = SessionStore()
    session[SESSION_KEY] = str(member.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = member.get_session_auth_hash()
    session.set_expiry(3600)
    session.create()
    client = Client()
    client.cookies["sessionid"] = session.session_key
    html = {}
    for name, build in MODES.items():
        tallies.kept_by_channel_and_state = build  # what referral_tallies reads
        for _ in range(10):  # warm: templates compiled, the SQL compiled once (lib.sqlonce)
            response = client.get("/invite/")
            assert response.status_code == 200
        html[name] = re.sub(rb'name="csrfmiddlewaretoken" value="[^"]+"', b"", response.content)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    results: dict[str, list[str]] = {name: [] for name in MODES}
    for _ in range(ROUNDS):
        for name, build in MODES.items():
            tallies.kept_by_channel_and_state = build
            database, python, wall = cpu_seconds([pid]), time.process_time(), time.perf_counter()
            for _ in range(REQUESTS):
                client.get("/invite/")
            results[name].append(
                f"{(time.perf_counter() - wall) * 1000 / REQUESTS:.1f} / "
                f"{(time.process_time() - python) * 1000 / REQUESTS:.1f} / "
                f"{(cpu_seconds([pid]) - database) * 1000 / REQUESTS:.2f}"
            )
    for name, rounds in results.items():
        print(f"{name}: wall / Python CPU / PostgreSQL CPU ms per request, by round: {'; '.join(rounds)}")
    print("same HTML:", len(set(html.values())) == 1)


if __name__ == "__main__":
    main()
