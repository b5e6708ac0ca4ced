"""Sale day with a hung Redis (issue 19, docs/program-rules.md G1, RELIABILITY scenario 5), on PostgreSQL with a
redis-server of the test's own: frozen with SIGSTOP during 200 order events at 50 events/s, the shop's answers
keep their normal speed (p99 under 1 s), and once Redis thaws every reward is credited exactly once, without
waiting for a minute-long sweep."""

from __future__ import annotations

import json
import os
import time

import pytest
from celery.contrib.testing.worker import start_worker
from django.db.models import Count
from django.test import Client, override_settings
from django.utils import timezone
from kombu import pools as kombu_pools

from coupons.models import Coupon
from lib import breaker
from ops import dispatcher
from ops.models import OutboxMessage
from orders import webhooks
from referral_portal.celery import app
from referrals.models import Referral
from referrals.reasons import ReferralState
from tests.factories import ReferralCodeFactory, ReferralFactory, StoreFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

EVENTS = 200
# Events per second at most, one client (the shop's pace on this machine's web tier is bench/redis_outage.py's).
RATE = 50.0
SECRET = "outage-secret"


def _reset_pool():
    if app._pool is not None:
        app._pool.force_close_all()
        app._pool = None
    app.amqp._producer_pool = None
    kombu_pools.reset()


@pytest.fixture
def production_like(redis_process, settings):
    """Cache and broker on the test's own Redis, as production has them; dispatch on the dispatcher thread."""
    saved = {k: app.conf[k] for k in ("broker_url", "broker_transport_options")}
    app.conf.broker_url = redis_process.url(1)
    app.conf.broker_transport_options = dict(settings.REDIS_BROKER_TRANSPORT_OPTIONS)
    _reset_pool()
    settings.ORDER_EVENTS_SECRETS = [SECRET]
    settings.ORDER_EVENTS_RATE_LIMIT = 100_000
    settings.REDIS_BREAKER_COOLDOWN_SECONDS = 2
    settings.OUTBOX_DISPATCH = "thread"
    # An in-process Celery worker of an earlier test forces this process's mode to "inline" (ops.dispatcher.use):
    # this test is the web process, so it follows the setting again.
    dispatcher.use(None)
    settings.OUTBOX_POLL_SECONDS = 0.5
    cache = {
        "BACKEND": "lib.cache.ReusedClientRedisCache",
        "LOCATION": redis_process.url(0),
        "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},  # referral_portal/settings.py
    }
    environ = dict(os.environ)  # the in-process worker sets CELERY_LOG_* variables later subprocesses would inherit
    with override_settings(CACHES={"default": cache}):
        try:
            yield redis_process
        finally:
            os.environ.clear()
            os.environ.update(environ)
            redis_process.thaw()
            dispatcher.stop()
            app.conf.update(saved)
            _reset_pool()


def _post(client: Client, payload: dict):
    body = json.dumps(payload).encode()
    header = webhooks.sign(body=body, secret=SECRET)
    return client.post(
        "/api/order-events/", data=body, content_type="application/json", headers={"Shop-Signature": header}
    )


def _placed(n: int, referral: Referral) -> dict:
    order = {"id": f"OUT-{n}", "amount": {"total": "30.00", "currency": "USD"}}
    order["lines"] = [{"store": "outage-store", "name": "Mug", "quantity": 1, "unit_price": "30.00"}]
    order["payment"] = {"card_fingerprint": f"fp_out_{n}"}
    event = {"id": f"out-placed-{n}", "type": "order.placed", "occurred_at": timezone.now().isoformat()}
    return event | {"member": {"email": referral.friend.email}, "order": order}


def _completed(n: int) -> dict:
    event = {"id": f"out-done-{n}", "type": "order.completed", "occurred_at": timezone.now().isoformat()}
    return event | {"order": {"id": f"OUT-{n}"}}


def _p99(latencies: list[float]) -> float:
    ordered = sorted(latencies)
    return ordered[max(0, int(len(ordered) * 0.99 + 0.999999) - 1)]


def test_a_frozen_redis_keeps_order_events_fast_and_every_reward_is_credited_once_after_it_thaws(production_like):
    redis_server = production_like
    StoreFactory(slug="outage-store")
    referrals = [ReferralFactory() for _ in range(EVENTS)]
    code = ReferralCodeFactory()
    client = Client()
    healthy = []
    for n, referral in enumerate(referrals):  # Redis answering: the orders are placed
        sent = time.monotonic()
        assert _post(client, _placed(n, referral)).status_code == 200
        healthy.append(time.monotonic() - sent)

    redis_server.freeze()
    latencies, others = [], []
    started = time.monotonic()
    for n in range(EVENTS):
        time.sleep(max(0.0, started + n / RATE - time.monotonic()))
        sent = time.monotonic()
        response = _post(client, _completed(n))
        latencies.append(time.monotonic() - sent)
        assert response.status_code == 200, response.content
        if n % 20 == 0:  # the rest of the site beside the shop: a link click and a page
            for url in (f"/r/{code.code}?ch=email", "/accounts/signup/"):
                sent = time.monotonic()
                assert client.get(url, REMOTE_ADDR="8.8.8.8").status_code in (200, 302)
                others.append(time.monotonic() - sent)
    elapsed = time.monotonic() - started
    p99 = _p99(latencies)
    print(
        f"\nRedis answering (order.placed): p50 {sorted(healthy)[EVENTS // 2] * 1000:.0f} ms, "
        f"p99 {_p99(healthy) * 1000:.0f} ms\nRedis frozen (order.completed): {EVENTS} events in {elapsed:.1f} s "
        f"({EVENTS / elapsed:.1f}/s, one client), p50 {sorted(latencies)[EVENTS // 2] * 1000:.0f} ms, "
        f"p99 {p99 * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms; clicks and pages max {max(others) * 1000:.0f} ms"
    )
    # Before the breaker and the outbox every one of these events waited on Redis (2 s rate limit + 3 s publish).
    # Now the outage is detected once per process; the speed target itself (p99 < 1 s at 50 events/s) is
    # measured by bench/redis_outage_bench.py; on a loaded CI machine this test bounds the number of slow
    # requests and the median rather than a timed p99.
    slow = [latency for latency in latencies if latency >= 1.0]
    assert len(slow) <= 2, f"{len(slow)} of {EVENTS} events took over 1 s with Redis frozen"
    assert sorted(latencies)[EVENTS // 2] < 0.25
    assert sorted(others)[-2] < 1.0
    # Nothing was lost: every credit is a row in the outbox, none published yet, none counted as a failure.
    pending = OutboxMessage.objects.filter(target="referrals.tasks.credit_referral_task", dispatched_at__isnull=True)
    assert pending.count() == EVENTS and not pending.exclude(attempts=0).exists()
    assert Referral.objects.filter(state=ReferralState.QUALIFIED).count() == EVENTS
    assert breaker.breaker_for(redis_server.url()).state != breaker.CLOSED

    redis_server.thaw()
    thawed = time.monotonic()
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        deadline, published = thawed + 120, None
        while time.monotonic() < deadline:
            if published is None and not pending.exists():
                published = time.monotonic() - thawed
            if Referral.objects.filter(state=ReferralState.CREDITED).count() == EVENTS:
                break
            time.sleep(0.25)
        drained = time.monotonic() - thawed
    print(f"after the thaw: {EVENTS} credit tasks published in {published:.1f} s, all credited in {drained:.1f} s")
    assert Referral.objects.filter(state=ReferralState.CREDITED).count() == EVENTS
    # The relay published the whole backlog within seconds of the thaw, not at the next minute; crediting then
    # runs at the worker's pace (one solo worker inside this test process here).
    assert published is not None and published < 10
    assert not OutboxMessage.objects.filter(dispatched_at__isnull=True, target__startswith="referrals.").exists()
    per_referral = Coupon.objects.filter(referral__in=referrals).values("referral").annotate(n=Count("pk"))
    assert sorted(row["n"] for row in per_referral) == [1] * EVENTS  # exactly once each
