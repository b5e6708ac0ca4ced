"""CPU time spent serving a benchmark run: gunicorn's workers plus their PostgreSQL backends.

Wall-clock requests per second on a shared 2-CPU machine swing with whatever else runs; CPU
seconds per request of the server side (read from /proc, Linux only) barely do, so the benches
print both. Redis and wrk are not counted (Redis is shared with other users; wrk is the client).
"""

from __future__ import annotations

import os
from pathlib import Path

import psycopg

TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()  # fields after "pid (comm)"


def children(ppid: int) -> list[int]:
    """Direct children of a process (gunicorn's workers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields and int(fields[1]) == ppid:
                found.append(int(entry.name))
    return found


def postgres_backends(database_url: str) -> list[int]:
    """Server process ids of every connection to the bench database (the workers' persistent ones)."""
    name = database_url.rsplit("/", 1)[1]
    with psycopg.connect(database_url, autocommit=True) as conn:
        me = conn.info.backend_pid
        rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", [name]).fetchall()
    return [pid for (pid,) in rows if pid != me]


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds used so far by these processes (0 for any that ended)."""
    total = 0
    for pid in pids:
        fields = _stat(pid)
        if fields:
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICK


def ensure_database(url: str) -> None:
    """Create the benchmark's PostgreSQL database named by `url` if it does not exist yet."""
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def server_env(database_url: str, **settings: str) -> dict[str, str]:
    """The environment a bench runs the portal with: production settings (DEBUG off, so the cached template
    loader) on `database_url`, plain HTTP on 127.0.0.1, the in-process cache and no broker unless a bench sets
    them (`settings` are added last)."""
    env = dict(os.environ)
    for name in ("REQUIRE_SERVICES", "CACHE_URL", "CELERY_BROKER_URL"):
        env.pop(name, None)
    env.update(
        DEBUG="0",
        SECRET_KEY=env.get("BENCH_SECRET_KEY") or "bench-not-a-secret-" + os.urandom(16).hex(),
        ALLOWED_HOSTS="127.0.0.1,testserver",
        DATABASE_URL=database_url,
        SECURE_COOKIES="0",
        SECURE_SSL_REDIRECT="0",
        SECURE_HSTS_SECONDS="0",
        ORDER_EVENTS_SECRETS="bench-secret",
        LOG_LEVEL="WARNING",
        PYTHONPATH=str(Path(__file__).resolve().parent.parent),
        **settings,
    )
    return env


def setup_in_process(database_url: str, **settings: str) -> None:
    """Set this process up as `server_env` sets up a bench's server (the variables it leaves out removed), then
    Django: for the profilers that render pages in-process. Import the portal's modules after this call."""
    env = server_env(database_url, **settings)
    for name in set(os.environ) - set(env):
        del os.environ[name]
    os.environ.update(env)
    import django

    django.setup()
