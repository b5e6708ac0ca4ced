"""`make run` (Procfile.dev): once web, worker and beat are up, print the URL and the demo logins again.

Web is up when `/healthz` answers 200, the worker when it answers a Celery ping, beat when it has written its
schedule file since `--since` (the moment honcho started the processes). Then the command stays idle, because
honcho stops every process as soon as one exits; Ctrl-C ends it with the others.
"""

from __future__ import annotations

import glob
import os
import time
import urllib.request
from collections.abc import Callable

from django.conf import settings
from django.core.management.base import BaseCommand

from accounts.management.commands.load_demo_data import DEMO_LOGINS, DEMO_PASSWORD
from referral_portal.celery import app


def web_is_up(base_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base_url}healthz", timeout=2) as response:  # noqa: S310 - our own URL
            return response.status == 200
    except OSError:
        return False


def worker_is_up() -> bool:
    try:
        return bool(app.control.ping(timeout=1.0))
    except Exception:  # noqa: BLE001 - a broker not ready yet is just "not up"
        return False


def beat_is_up(since: float) -> bool:
    files = glob.glob(f"{settings.CELERY_BEAT_SCHEDULE_FILENAME}*")
    return any(os.path.getmtime(path) >= since for path in files)


class Command(BaseCommand):
    help = "Wait until web, worker and beat are up, then print the portal's URL and the demo logins."

    def add_arguments(self, parser):
        parser.add_argument("--since", type=float, default=None, help="Unix time the processes were started.")
        parser.add_argument("--timeout", type=float, default=180.0, help="Give up waiting after this many seconds.")
        parser.add_argument("--once", action="store_true", help="Exit after printing (default: stay idle).")

    def handle(self, *args, since=None, timeout=180.0, once=False, **options):
        since = time.time() - 5 if since is None else since - 1
        port = os.environ.get("WEB_PORT", "8000")
        base_url = f"http://127.0.0.1:{port}/"
        checks: dict[str, Callable[[], bool]] = {
            "web": lambda: web_is_up(base_url),
            "worker": worker_is_up,
            "beat": lambda: beat_is_up(since),
        }
        deadline = time.monotonic() + timeout
        waiting = dict(checks)
        while True:
            waiting = {name: check for name, check in waiting.items() if not check()}
            if not waiting or time.monotonic() >= deadline:
                break
            time.sleep(1)
        self.stdout.write(self.banner(base_url, missing=list(waiting)))
        while not once:
            time.sleep(3600)

    def banner(self, base_url: str, *, missing: list[str]) -> str:
        rule = "=" * 72
        up = "web, worker and beat are up" if not missing else f"still waiting for: {', '.join(missing)}"
        lines = [
            "",
            rule,
            f"  Referral Portal: {base_url}   ({up})",
            f"  Staff console:   {base_url}admin/",
            f"  Demo logins (password {DEMO_PASSWORD}):",
            *(f"    {role:<16} {email}" for role, email in DEMO_LOGINS),
            "  Ctrl-C stops everything.",
            rule,
            "",
        ]
        return "\n".join(lines)
