"""Invite Friends and My Coupons on a FIRST VISIT, under load, against a bare Django page, in the same run.

What it does (all on 127.0.0.1, bounded in time):
1. creates (once) a PostgreSQL database, migrates it, collects static files;
2. seeds (idempotently) a referrer (verified phone) with BENCH_REFERRALS referrals (mixed states, two
   timeline rows each), clicks on every channel and 60 coupons, a second one with 20 referrals, and a
   logged-in session for each;
3. starts gunicorn (DEBUG off, cached template loader, persistent DB connections) with the
   bench-only settings (bench.bench_settings: the portal's URLs + the two bare pages);
   the member pages keep nothing member-specific in a cache, so every request is a first visit, the
   visit a member really makes (a new day, a new referral, another language);
4. loads each page with wrk (Debian package `wrk`; a bounded Python loop when it is missing)
   and prints requests per second and latency, then stops gunicorn.

    python bench/run.py pages        # or: make bench

Environment: BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/rp_bench_pages),
BENCH_CACHE_URL (default: none, the in-process cache; e.g. redis://127.0.0.1:6379/2 as in production),
BENCH_SECONDS (10), BENCH_CONNECTIONS (4), BENCH_WORKERS (2), BENCH_REFERRALS (5000), BENCH_PORT (8190),
BENCH_ROUNDS (2: every page is loaded once per round, pages alternating, and the best round is kept).

The bare page is the floor a page of rows can reach: a plain template file extending a minimal
base (bench/templates/bench/), a loop over 50 rows from one query printing six fields each, sent
without a session cookie (no session, no user lookup). The member pages get the member's cookie.
A second floor prints the rows' stored values instead of their translated labels (bench/urls.py says why);
both ratios are printed.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cpu import children, cpu_seconds, ensure_database, postgres_backends, server_env

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/rp_bench_pages")
SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "4"))
WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))
REFERRALS = int(os.environ.get("BENCH_REFERRALS", "5000"))
PORT = int(os.environ.get("BENCH_PORT", "8190"))
CACHE_URL = os.environ.get("BENCH_CACHE_URL", "")
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "2"))
MEMBER_EMAIL = "bench-member@example.com"
SMALL_EMAIL = "bench-small@example.com"
SMALL_REFERRALS = 20

# (label, path, whose session: "" none, "big" the member with REFERRALS referrals, "small" the one with 20)
PAGES = [
    ("bare page (50 rows, 1 query)", "/bench/bare/", ""),
    ("bare page, raw labels (see bench/urls.py)", "/bench/bare-raw/", ""),
    (f"Invite Friends ({SMALL_REFERRALS} referrals)", "/invite/", "small"),
    (f"Invite Friends ({REFERRALS:,} referrals, page 1)", "/invite/", "big"),
    ("My Coupons (60 coupons + calculator)", "/coupons/", "big"),
]


def _env(var_dir: str) -> dict[str, str]:
    env = server_env(DATABASE_URL, DJANGO_SETTINGS_MODULE="bench.bench_settings", CONN_MAX_AGE="600", VAR_DIR=var_dir)
    if CACHE_URL:
        env["CACHE_URL"] = CACHE_URL
    return env


SEED = r"""
import django, json, os
django.setup()
from datetime import timedelta
from decimal import Decimal
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from django.utils import timezone
from accounts.identity import normalize_email
from accounts.models import User
from coupons.models import Coupon
from referrals.models import Click, Referral, ReferralEvent
from referrals.services import ensure_referral_code

n = int(os.environ["BENCH_REFERRALS"])
email = os.environ["BENCH_EMAIL"]
tag = email.split("@")[0]
member = User.objects.filter(email=email).first() or User.objects.create_user(
    email=email, password=None, first_name="Bench", last_name="Member")
if member.phone_verified_at is None:  # a referrer who earns: phone verified, as the program asks (readiness)
    member.phone = "+1415555%04d" % (member.pk %% 10000)
    member.phone_verified_at = timezone.now()
    member.save(update_fields=["phone", "phone_verified_at"])
code = ensure_referral_code(member=member)
now = timezone.now()
have = Referral.objects.filter(referrer=member).count()
if have < n:
    friends = User.objects.bulk_create([
        User(email=f"{tag}-friend-{i}@example.com", email_normalized=normalize_email(f"{tag}-friend-{i}@example.com"),
             first_name=f"Friend{i}", last_name="Bench", password="!")
        for i in range(have, n)])
    states = [("registered", ""), ("order_placed", ""), ("credited", ""), ("capped", "MONTHLY_LIMIT"),
              ("rejected", "SELF_REFERRAL"), ("voided", "FIRST_ORDER_CANCELED"), ("qualified", "")]
    channels = ["whatsapp", "telegram", "facebook", "x", "email", "copy", "qr", "instagram"]
    refs = Referral.objects.bulk_create([
        Referral(referrer=member, friend=f, code=code, channel=channels[i %% 8], state=states[i %% 7][0],
                 reason_code=states[i %% 7][1], registered_at=now - timedelta(minutes=i),
                 order_placed_at=now - timedelta(minutes=i - 1), completed_at=now - timedelta(minutes=i - 2),
                 decided_at=now - timedelta(minutes=i - 2))
        for i, f in enumerate(friends, start=have)], batch_size=1000)
    ReferralEvent.objects.bulk_create(
        [ReferralEvent(referral=r, to_state="registered", occurred_at=r.registered_at) for r in refs]
        + [ReferralEvent(referral=r, from_state="registered", to_state=r.state, reason_code=r.reason_code,
                         occurred_at=r.completed_at) for r in refs], batch_size=2000)
    # A referrer's clicks came over days (one every minute, the newest 15 minutes ago), not all this second.
    Click.objects.bulk_create([Click(referral_code=code, channel=channels[i %% 8],
                                     clicked_at=now - timedelta(minutes=15 + i)) for i in range(2 * n)],
                              batch_size=2000)
if Coupon.objects.filter(owner=member).count() < 60:
    Coupon.objects.bulk_create([
        Coupon(owner=member, source="welcome", value=Decimal(5 + i %% 5), min_spend=Decimal(20 + i),
               issued_at=now, expires_at=now + timedelta(days=1 + i %% 30)) for i in range(60)])
# Count the clicks into the click tallies as the every-five-minutes beat job does in production
# (referrals.services.rollup): the funnel then reads the tally and only the clicks of the last minutes raw.
from referrals.services.rollup import roll_up_clicks
roll_up_clicks()
from referrals.services.tallies import compact_referral_tallies
compact_referral_tallies()  # the kept counts' delta rows folded, as the every-minute job does
from django.db import connection
with connection.cursor() as cursor:
    cursor.execute("VACUUM (ANALYZE)")  # statistics and the visibility map after the bulk insert, as autovacuum would
session = SessionStore()
session[SESSION_KEY] = str(member.pk)
session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
session[HASH_SESSION_KEY] = member.get_session_auth_hash()
session.set_expiry(3600)
session.create()
print(json.dumps({"session": session.session_key, "referrals": Referral.objects.filter(referrer=member).count()}))
""".replace("%%", "%")


def _wait_up(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"server did not answer {url}")


def _fetch(url: str, cookie: str) -> tuple[int, int, str]:
    req = urllib.request.Request(url, headers={"Cookie": cookie} if cookie else {})
    with urllib.request.urlopen(req, timeout=10) as r:
        body = r.read()
        return r.status, len(body), body.decode(errors="replace")


def _wrk(url: str, cookie: str) -> dict:
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{CONNECTIONS}",
            f"-d{SECONDS}s",
            "--latency",
            *(["-H", f"Cookie: {cookie}"] if cookie else []),
            url,
        ],
        capture_output=True,
        text=True,
        timeout=SECONDS + 30,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = re.search(r"50%\s+([\d.]+\w+)", out).group(1)
    p99 = re.search(r"99%\s+([\d.]+\w+)", out).group(1)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    return {
        "rps": rps,
        "requests": requests,
        "p50": p50,
        "p99": p99,
        "errors": int(non2xx.group(1)) if non2xx else 0,
        "tool": "wrk",
    }


def _python_load(url: str, cookie: str) -> dict:
    """Bounded fallback: CONNECTIONS threads, SECONDS long, keep-alive connections."""
    parsed = urlparse(url)
    stop = time.monotonic() + SECONDS
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()

    def worker():
        conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=10)
        while time.monotonic() < stop:
            t = time.perf_counter()
            conn.request("GET", parsed.path, headers={"Cookie": cookie} if cookie else {})
            resp = conn.getresponse()
            resp.read()
            with lock:
                latencies.append(time.perf_counter() - t)
                errors[0] += resp.status != 200
        conn.close()

    threads = [threading.Thread(target=worker) for _ in range(CONNECTIONS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    latencies.sort()
    return {
        "rps": len(latencies) / SECONDS,
        "requests": len(latencies),
        "p50": f"{latencies[len(latencies) // 2] * 1000:.1f}ms",
        "p99": f"{latencies[int(len(latencies) * 0.99)] * 1000:.1f}ms",
        "errors": errors[0],
        "tool": "python",
    }


def _measure(env: dict[str, str], cookies: dict[str, str], *, pages: list[tuple[str, str, str]]) -> list[dict]:
    """Start gunicorn with `env`, load every page ROUNDS times (pages alternating), keep each page's best round."""
    gunicorn = shutil.which("gunicorn", path=str(Path(PY).parent)) or "gunicorn"
    server = subprocess.Popen(
        [gunicorn, "referral_portal.wsgi", "-b", f"127.0.0.1:{PORT}", "-w", str(WORKERS), "--log-level", "warning"],
        env=env,
        cwd=ROOT,
    )
    results = []
    try:
        base = f"http://127.0.0.1:{PORT}"
        _wait_up(base + "/bench/bare/")
        load = _wrk if shutil.which("wrk") else _python_load
        prepared = []
        for label, path, who in pages:
            cookie = cookies.get(who, "")  # the bare page: no session at all
            status, size, body = _fetch(base + path, cookie)
            if status != 200 or (who and "Log in" in body and "Log out" not in body):
                raise RuntimeError(f"{path} did not render for the logged-in member ({status})")
            for _ in range(20):  # warm: templates compiled, connections open
                _fetch(base + path, cookie)
            rows = (
                body.count("<tr><td>")
                if not who
                else body.count('class="card referral-card"') + body.count('<article id="coupon-')
            )
            prepared.append((label, path, cookie, size, rows))
        runs: dict[str, list[dict]] = {label: [] for label, *_ in prepared}
        pids = children(server.pid) + postgres_backends(DATABASE_URL)
        for _ in range(ROUNDS):  # pages alternate, so a burst of load elsewhere hits all of them
            for label, path, cookie, _size, _rows in prepared:
                start = cpu_seconds(pids)
                result = load(base + path, cookie)
                result["cpu_ms"] = (cpu_seconds(pids) - start) * 1000 / max(result["requests"], 1)
                runs[label].append(result)
        for label, path, _cookie, size, rows in prepared:
            best = max(runs[label], key=lambda r: r["rps"])
            results.append(
                {
                    "page": label,
                    "path": path,
                    "bytes": size,
                    "items": rows,
                    **best,
                    "all_rps": [r["rps"] for r in runs[label]],
                }
            )
    finally:
        server.terminate()
        server.wait(timeout=10)
    return results


def _print(results: list[dict], title: str) -> None:
    bare_rps, bare_cpu = results[0]["rps"], results[0]["cpu_ms"]
    print(title)
    print(
        f"{'page':44} {'req/s':>8} {'vs bare':>8} {'p50':>9} {'p99':>9} {'KiB':>6} {'items':>6} {'non-2xx':>8}"
        f" {'CPU ms/req':>10} {'CPU vs bare':>11}"
    )
    for r in results:
        print(
            f"{r['page']:44} {r['rps']:8.1f} {r['rps'] / bare_rps:8.2f} {r['p50']:>9} {r['p99']:>9} "
            f"{r['bytes'] / 1024:6.1f} {r['items']:6d} {r['errors']:8d} "
            f"{r['cpu_ms']:10.2f} {bare_cpu / r['cpu_ms']:11.2f}"
        )


def main() -> int:
    ensure_database(DATABASE_URL)
    var_dir = tempfile.mkdtemp(prefix="rp_bench_pages_")
    env = _env(var_dir)
    manage = [PY, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "--noinput", "-v0"], env=env, check=True, cwd=ROOT)
    subprocess.run([*manage, "collectstatic", "--noinput", "-v0"], env=env, check=True, cwd=ROOT)
    cookies = {}
    for who, email, referrals in (("big", MEMBER_EMAIL, REFERRALS), ("small", SMALL_EMAIL, SMALL_REFERRALS)):
        seed_env = {**env, "BENCH_EMAIL": email, "BENCH_REFERRALS": str(referrals)}
        out = subprocess.run([PY, "-c", SEED], env=seed_env, check=True, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        cookies[who] = f"sessionid={json.loads(out.stdout)['session']}"
    try:  # every request a first visit: the member pages keep no rendered page or funnel in a cache
        results = _measure(env, cookies, pages=PAGES)
    finally:
        shutil.rmtree(var_dir, ignore_errors=True)

    load_average = os.getloadavg()
    print(
        f"{REFERRALS} referrals; {WORKERS} gunicorn sync workers; {CONNECTIONS} connections; {SECONDS}s per page; "
        f"best of {ROUNDS} rounds; load average {load_average[0]:.1f} {load_average[1]:.1f} {load_average[2]:.1f}"
    )
    _print(results, "FIRST VISIT (every request renders from the database: the pages keep no member cache)")
    bare, raw = results[0]["rps"], results[1]["rps"]
    print("ratios to the bare page: " + "; ".join(f"{r['page']}: {r['rps'] / bare:.2f}x" for r in results[2:]))
    print(
        "ratios to the bare page with raw labels: "
        + "; ".join(f"{r['page']}: {r['rps'] / raw:.2f}x" for r in results[2:])
    )
    print(
        "CPU ms/req: gunicorn workers + their PostgreSQL backends (bench/cpu.py); 'CPU vs bare' = bare's / the page's,"
    )
    print("the requests-per-second ratio the pages would have on an otherwise idle machine.")
    print(json.dumps({"first_visit": results, "load_average": load_average}))
    return 0 if all(r["errors"] == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
