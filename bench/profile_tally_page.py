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

sys.path.insert(0, str(Path(__file__).resolve().parent))
# The in-process page profiler's setup: Django on the bench database (BENCH_DATABASE_URL), static files collected,
# a signed-in client per member (importing it sets Django up, so it comes before the portal's imports).
from cpu import cpu_seconds
from django.db import connection
from profile_pages import _client

from referrals.selectors import funnel, tallies

REQUESTS = int(os.environ.get("PROFILE_REQUESTS", "100"))
ROUNDS = int(os.environ.get("PROFILE_ROUNDS", "3"))
MODES = {"counted (before)": funnel.by_channel_and_state, "kept (now)": funnel.kept_by_channel_and_state}


def main() -> None:
    client = _client("bench-member@example.com")
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
