"""Where an `order.completed` event's time goes, in-process (not a benchmark: `bench/run.py` does not run it).

Seeds 1.5 × BENCH_EVENTS (300) friends with a referral and a placed first order (through the endpoint, not measured),
then POSTs each friend's signed `order.completed` to `/api/order-events/` through Django's WSGI handler (every
middleware, production settings: DEBUG off, PostgreSQL, persistent connection), as gunicorn would. The outbox
row each qualification writes is left for the dispatcher thread in a web process; here the after-commit kick is
a no-op, so only the request's own work is counted. Prints per event: wall ms, this process's CPU ms, the
PostgreSQL backend's CPU ms and SQL statements; PROFILE=1 adds a cProfile (cumulative, PROFILE_TOP lines) and
PROFILE_SQL=1 the statements of one event. Then BENCH_EVENTS / 2 more events through the view function alone (no
WSGI handler, no middleware): the difference is what the handler and the middleware cost.

    python bench/profile_order_events.py
    PROFILE=1 python bench/profile_order_events.py
Environment: BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/rp_profile_events; dropped and
created), BENCH_CACHE_URL (default locmemcache://; the rate limiter's store: a Redis URL measures its round trip).
"""

from __future__ import annotations

import cProfile
import hashlib
import hmac
import json
import os
import pstats
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cpu import cpu_seconds
from sweepdb import ROOT, fresh_database

DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/rp_profile_events")
CACHE_URL = os.environ.get("BENCH_CACHE_URL", "locmemcache://profile-events")
EVENTS = int(os.environ.get("BENCH_EVENTS", "300"))
TOP = int(os.environ.get("PROFILE_TOP", "45"))
WARM = 20
SECRET = "bench-profile"


def _setup() -> None:
    env = {
        "DJANGO_SETTINGS_MODULE": "referral_portal.settings",
        "DEBUG": "0",
        "SECRET_KEY": "bench-only-" + "k" * 50,
        "ALLOWED_HOSTS": "127.0.0.1,testserver",
        "DATABASE_URL": DATABASE_URL,
        "CACHE_URL": CACHE_URL,
        "CELERY_BROKER_URL": "memory://",
        "CONN_MAX_AGE": "600",
        "SECURE_COOKIES": "0",
        "SECURE_SSL_REDIRECT": "0",
        "LOG_LEVEL": "ERROR",  # as bench/redis_outage_bench.py
        "ORDER_EVENTS_SECRETS": SECRET,
        "ORDER_EVENTS_RATE_LIMIT": "100000",
        "EMAIL_URL": "dummymail://",
        "VAR_DIR": str(ROOT / "var" / "profile_events"),
    }
    os.environ.update(env)
    os.environ.pop("REQUIRE_SERVICES", None)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def _post(client, payload: dict, view=None) -> int:
    body = json.dumps(payload).encode()
    stamp = str(int(time.time()))
    digest = hmac.new(SECRET.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    answer = client.post(
        "/api/order-events/",
        data=body,
        content_type="application/json",
        headers={"Shop-Signature": f"t={stamp},v1={digest}"},
        REMOTE_ADDR="127.0.0.1",
    )
    if view is not None:  # the view alone (`client` is a RequestFactory): no WSGI handler, no middleware
        return view(answer).status_code
    return answer.status_code


def _placed(n: int, email: str) -> dict:
    order = {"id": f"PROF-{n}", "amount": {"total": "30.00", "currency": "USD"}}
    order["lines"] = [{"store": "bench-store", "name": "Mug", "quantity": 1, "unit_price": "30.00"}]
    order["payment"] = {"card_fingerprint": f"fp_prof_{n}"}
    now = datetime.now(UTC).isoformat()
    return {"id": f"prof-placed-{n}", "type": "order.placed", "occurred_at": now, "member": {"email": email}} | {
        "order": order
    }


def _completed(n: int) -> dict:
    now = datetime.now(UTC).isoformat()
    return {"id": f"prof-done-{n}", "type": "order.completed", "occurred_at": now, "order": {"id": f"PROF-{n}"}}


def main() -> int:
    fresh_database(DATABASE_URL)
    _setup()
    from django.conf import settings
    from django.contrib.auth.hashers import get_hashers
    from django.db import connection
    from django.db.backends.utils import CursorWrapper
    from django.test import Client, RequestFactory

    from ops import dispatcher
    from ops.models import OutboxMessage
    from orders.views import order_events
    from referrals.models import Referral
    from tests.factories import ReferralFactory, StoreFactory

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # seeding only
    get_hashers.cache_clear()
    dispatcher.kick = lambda pk: None  # a web process hands the row to its dispatcher thread; not measured here
    StoreFactory(slug="bench-store")
    emails = [ReferralFactory().friend.email for _ in range(EVENTS + EVENTS // 2)]
    client = Client()
    for n, email in enumerate(emails):
        assert _post(client, _placed(n, email)) == 200
    for n in range(WARM):
        assert _post(client, _completed(n)) == 200
    connection.cursor().execute("VACUUM ANALYZE")

    backend = [connection.connection.info.backend_pid]
    statements: list[str] = []
    execute = CursorWrapper.execute

    def counted(self, sql, params=None):
        statements.append(sql)
        return execute(self, sql, params)

    CursorWrapper.execute = counted  # type: ignore[method-assign]
    profile = cProfile.Profile(time.process_time) if os.environ.get("PROFILE") == "1" else None
    cpu, db_cpu, started = time.process_time(), cpu_seconds(backend), time.perf_counter()
    if profile:
        profile.enable()
    statuses, last_event_starts_at = [], 0
    for n in range(WARM, EVENTS):
        last_event_starts_at = len(statements)
        statuses.append(_post(client, _completed(n)))
    if profile:
        profile.disable()
    wall, cpu, db_cpu = time.perf_counter() - started, time.process_time() - cpu, cpu_seconds(backend) - db_cpu
    CursorWrapper.execute = execute  # type: ignore[method-assign]
    n = EVENTS - WARM
    factory = RequestFactory()
    assert statuses == [200] * n, {s: statuses.count(s) for s in set(statuses)}
    qualified = Referral.objects.filter(state="qualified").count()
    pending = OutboxMessage.objects.filter(dispatched_at__isnull=True).count()
    print(
        f"{n} order.completed: {1000 * wall / n:.2f} ms wall, {1000 * cpu / n:.2f} ms Python CPU, "
        f"{1000 * db_cpu / n:.2f} ms PostgreSQL CPU, {len(statements) / n:.1f} statements per event "
        f"({qualified} referrals qualified, {pending} outbox rows pending)"
    )
    # The same work through the view function alone: what the WSGI handler and the middleware add.
    view_cpu = time.process_time()
    for n in range(EVENTS, EVENTS + EVENTS // 2):
        assert _post(factory, _completed(n), view=order_events) == 200
    view_cpu = time.process_time() - view_cpu
    print(
        f"{EVENTS // 2} more through the view alone (no handler, no middleware): "
        f"{1000 * view_cpu / (EVENTS // 2):.2f} ms Python CPU"
    )
    if os.environ.get("PROFILE_SQL") == "1":
        for sql in statements[last_event_starts_at:]:
            print("  ", sql[:220])
    if profile:
        pstats.Stats(profile).sort_stats("cumulative").print_stats(TOP)
    return 0


if __name__ == "__main__":
    sys.exit(main())
