"""Shared by the sweep benchmarks (crediting, expiry, credit task): a bench database, migrated, and Django set up
in this process against it, with production settings (DEBUG=0, persistent connections, logs at WARNING)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable


def bench_env(database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "DJANGO_SETTINGS_MODULE"}}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "bench.bench_settings",
            "DEBUG": "0",
            "SECRET_KEY": "bench-only-" + "k" * 50,
            "ALLOWED_HOSTS": "127.0.0.1",
            "DATABASE_URL": database_url,
            "CONN_MAX_AGE": "600",
            "SECURE_COOKIES": "0",
            "LOG_LEVEL": "WARNING",
            "ORDER_EVENTS_SECRETS": "bench",
            "VAR_DIR": os.environ.get("BENCH_VAR_DIR") or tempfile.mkdtemp(prefix="rp_bench_"),
        }
    )
    env.update(extra)
    return env


def fresh_database(database_url: str) -> None:
    """Drop and create the bench database, then migrate it (every run starts from the same empty schema)."""
    name = database_url.rsplit("/", 1)[1]
    admin_url = database_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    subprocess.run(
        [PY, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=bench_env(database_url),
        check=True,
        capture_output=True,
        timeout=600,
    )


def setup_django(database_url: str, **extra: str) -> None:
    os.environ.update(bench_env(database_url, **extra))
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def sql(conn, statement: str, params=None):
    with conn.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall() if cursor.description else cursor.rowcount


def vacuum(database_url: str, *tables: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        for table in tables:
            conn.execute(f"VACUUM ANALYZE {table}")


@contextmanager
def timed(label: str, results: dict):
    started = time.perf_counter()
    yield
    results[label] = time.perf_counter() - started
