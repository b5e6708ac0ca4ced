"""Benchmark: the /r/<code> click endpoint against a bare one-INSERT-and-302 Django view.

Both run in the same gunicorn (2 sync workers, loopback only) against PostgreSQL
with persistent connections and Redis as the shared rate-limit cache, through
the same middleware. wrk sends every request from a random client IP (via
X-Forwarded-For, BEHIND_PROXY=1), so the click's rate limit, GeoIP lookup and
device/IP writes all run as for real first clicks. Target: click throughput
>= 0.8 x the bare view's.

    python bench/click_bench.py            # or: make bench
Environment: BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/rp_bench_click),
BENCH_CACHE_URL (default redis://127.0.0.1:6379/2), BENCH_SECONDS (default 10), BENCH_PORT (default 8765),
BENCH_ROUNDS (default 3). Besides requests per second (best round of each), it prints each round's
ratio and the server-side CPU per request (gunicorn workers + their PostgreSQL backends, from
/proc: bench/cpu.py), which is what the ratio would be on an otherwise idle machine.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cpu import children, cpu_seconds, postgres_backends

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/rp_bench_click")
CACHE_URL = os.environ.get("BENCH_CACHE_URL", "redis://127.0.0.1:6379/2")
SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
PORT = int(os.environ.get("BENCH_PORT", "8765"))
HOST = "127.0.0.1"  # loopback only
TARGET_RATIO = 0.8
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))

# Every request from a random public-looking client behind one trusted proxy.
WRK_SCRIPT = """
math.randomseed(os.time() + tonumber(string.sub(tostring({}), 8), 16))
request = function()
  local ip = string.format("%d.%d.%d.%d", math.random(11, 220), math.random(0, 255),
                           math.random(0, 255), math.random(1, 254))
  -- What our one trusted proxy appends: the address it saw (the right-most entry is the client).
  wrk.headers["X-Forwarded-For"] = ip
  return wrk.format(nil, nil)
end
"""


def server_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "DJANGO_SETTINGS_MODULE"}}
    env.update(
        DJANGO_SETTINGS_MODULE="bench.bench_settings",  # the portal's URLs plus the bare views (bench/urls.py)
        DEBUG="0",
        SECRET_KEY="bench-only-" + "k" * 50,
        ALLOWED_HOSTS=HOST,
        DATABASE_URL=DATABASE_URL,
        CACHE_URL=CACHE_URL,
        CONN_MAX_AGE="600",
        BEHIND_PROXY="1",
        SECURE_COOKIES="0",
        LOG_LEVEL="WARNING",
        ORDER_EVENTS_SECRETS="bench",
        VAR_DIR=tempfile.mkdtemp(prefix="rp_bench_"),
    )
    return env


def ensure_database() -> None:
    name = DATABASE_URL.rsplit("/", 1)[1]
    admin_url = DATABASE_URL.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def manage(env: dict[str, str], *args: str) -> str:
    return subprocess.run(
        [PY, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True, text=True, timeout=300
    ).stdout


SETUP = """
from accounts.models import User, IPSighting
from referrals.models import Click
from referrals.services import ensure_referral_code
user, _ = User.objects.get_or_create(email="bench-referrer@example.com", defaults={"first_name": "Bench"})
print(ensure_referral_code(user=user).code)
"""
COUNT = "from referrals.models import Click; print(Click.objects.count())"


def wrk(url: str) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT)
    out = subprocess.run(
        ["wrk", "-t2", "-c4", f"-d{SECONDS}s", "--latency", "-s", script.name, url],
        check=True,
        capture_output=True,
        text=True,
        timeout=SECONDS + 30,
    ).stdout
    os.unlink(script.name)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    p50 = re.search(r"50%\s+([\d.]+\w+)", out).group(1)
    p99 = re.search(r"99%\s+([\d.]+\w+)", out).group(1)
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    return {
        "rps": rps,
        "requests": requests,
        "p50": p50,
        "p99": p99,
        "bad": int(bad.group(1)) if bad else 0,
        "errors": errors and errors[0],
    }


def measured(url: str, pids: list[int]) -> dict:
    """One wrk run plus the server-side CPU (workers + their PostgreSQL backends) it cost per request."""
    start = cpu_seconds(pids)
    result = wrk(url)
    result["cpu_ms"] = round((cpu_seconds(pids) - start) * 1000 / max(result["requests"], 1), 3)
    return result


def wait_up(url: str, proc: subprocess.Popen) -> None:
    for _ in range(100):
        if proc.poll() is not None:
            raise SystemExit("gunicorn exited early")
        try:
            urllib.request.urlopen(url, timeout=1)  # loopback only
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("gunicorn did not start")


def main() -> int:
    if not shutil.which("wrk"):
        print("wrk is not installed (apt-get install -y wrk)")
        return 1
    env = server_env()
    ensure_database()
    manage(env, "migrate", "--noinput", "-v", "0")
    code = manage(env, "shell", "-c", SETUP).strip().splitlines()[-1]
    base = f"http://{HOST}:{PORT}"
    gunicorn = subprocess.Popen(
        [
            PY,
            "-m",
            "gunicorn",
            "referral_portal.wsgi",
            "-w",
            "2",
            "-k",
            "sync",
            "-b",
            f"{HOST}:{PORT}",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    try:
        wait_up(f"{base}/healthz", gunicorn)
        click_url, bare_url = f"{base}/r/{code}?ch=whatsapp", f"{base}/bench/bare-click"
        before = int(manage(env, "shell", "-c", COUNT).split()[-1])
        # Warm up both (connections, imports, GeoIP database), then alternate to even out noise.
        for url in (click_url, bare_url):
            subprocess.run(["wrk", "-t1", "-c2", "-d2s", url], check=True, capture_output=True, timeout=30)
        pids = children(gunicorn.pid) + postgres_backends(DATABASE_URL)
        runs = {"click": [], "bare": []}
        for i in range(ROUNDS):  # alternate, and swap the order every round, to even out drift and bursts
            order = (
                (("bare", bare_url), ("click", click_url)) if i % 2 == 0 else (("click", click_url), ("bare", bare_url))
            )
            for name, url in order:
                runs[name].append(measured(url, pids))
        recorded = int(manage(env, "shell", "-c", COUNT).split()[-1]) - before
    finally:
        os.killpg(gunicorn.pid, signal.SIGTERM)
        gunicorn.wait(timeout=30)

    best = {name: max(results, key=lambda r: r["rps"]) for name, results in runs.items()}
    ratio = best["click"]["rps"] / best["bare"]["rps"]
    pair_ratios = sorted(c["rps"] / b["rps"] for c, b in zip(runs["click"], runs["bare"], strict=True))
    cpu = {
        name: sum(r["cpu_ms"] * r["requests"] for r in rs) / sum(r["requests"] for r in rs) for name, rs in runs.items()
    }
    print(f"load average {os.getloadavg()[0]:.1f}; {ROUNDS} rounds of {SECONDS}s each")
    print(f"{'endpoint':<26}{'req/s':>10}{'p50':>10}{'p99':>10}{'non-3xx':>9}{'server CPU ms/req':>19}")
    for name, label in (("bare", "bare INSERT + 302"), ("click", "/r/<code> click")):
        r = best[name]
        print(f"{label:<26}{r['rps']:>10.0f}{r['p50']:>10}{r['p99']:>10}{r['bad']:>9}{cpu[name]:>19.3f}")
    print(f"clicks recorded during the run: {recorded}")
    print(f"ratio click/bare: {ratio:.2f} best vs best (target >= {TARGET_RATIO})")
    print(
        f"  per round: {', '.join(f'{r:.2f}' for r in pair_ratios)} (median {pair_ratios[len(pair_ratios) // 2]:.2f})"
    )
    print(f"  server CPU per request, bare/click: {cpu['bare'] / cpu['click']:.2f} (load-independent estimate)")
    print(json.dumps({"ratio": round(ratio, 3), "runs": runs}, default=str))
    ok = ratio >= TARGET_RATIO and recorded > 0 and best["click"]["bad"] == 0 and best["bare"]["bad"] == 0
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
