"""docs/program-rules.md G6, scenarios 5 and 6: Redis down while orders complete; a worker dying mid-credit."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from celery.contrib.testing.worker import start_worker
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from kombu import pools as kombu_pools

from coupons.models import Coupon
from flows.orders import pass_first_order_event
from ops.models import OutboxMessage
from orders import webhooks
from referral_portal.celery import app
from referrals.models import MonthlyRewardCounter, Referral
from referrals.reasons import ReferralState
from referrals.services import credit_due_referrals
from referrals.tasks import credit_referral_task
from tests.factories import OrderFactory, ReferralFactory

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]


def _reset_pool():
    # The connection and producer pools were built for the previous broker URL; drop them
    # (kombu keeps producer pools in a process-wide registry, hence pools.reset()).
    if app._pool is not None:
        app._pool.force_close_all()
        app._pool = None
    app.amqp._producer_pool = None
    kombu_pools.reset()


@pytest.fixture
def broker_at():
    saved = {k: app.conf[k] for k in ("broker_url", "broker_transport_options")}

    def point(url: str):
        # Exactly the options production gets for a Redis broker URL (referral_portal/settings.py).
        app.conf.broker_url = url
        app.conf.broker_transport_options = dict(settings.REDIS_BROKER_TRANSPORT_OPTIONS)
        _reset_pool()
        return app

    try:
        yield point
    finally:
        app.conf.update(saved)
        _reset_pool()


@pytest.fixture
def frozen_redis():
    """A server that accepts connections and never answers: what a hung Redis looks like to a client."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])  # keep it open, read nothing, answer nothing
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"redis://127.0.0.1:{listener.getsockname()[1]}/0"
    finally:
        stop.set()
        thread.join(timeout=2)
        for conn in held:
            conn.close()
        listener.close()


def _signed_event(client, payload: dict):
    body = json.dumps(payload).encode()
    header = webhooks.sign(body=body, secret="reliability-secret")
    return client.post(
        "/api/order-events/", data=body, content_type="application/json", headers={"Shop-Signature": header}
    )


def _post_into(answer: list, client, payload: dict) -> None:
    answer.append(_signed_event(client, payload))


def test_a_frozen_redis_never_hangs_the_shops_webhook_and_the_sweep_credits_later(
    broker_at, frozen_redis, settings, caplog
):
    """Scenario 5 at the webhook: Redis accepts connections but never answers (not a refused port)."""
    from django.test import Client

    from orders.models import OrderEvent
    from tests.factories import StoreFactory

    settings.ORDER_EVENTS_SECRETS = ["reliability-secret"]
    broker_at(frozen_redis)
    StoreFactory(slug="reliability-store")
    referrals = [ReferralFactory() for _ in range(2)]
    client, now = Client(), timezone.now()
    for n, referral in enumerate(referrals):
        order = {"id": f"REL-{n}", "amount": {"total": "30.00", "currency": "USD"}}
        order["lines"] = [{"store": "reliability-store", "name": "Mug", "quantity": 1, "unit_price": "30.00"}]
        order["payment"] = {"card_fingerprint": f"fp_rel_{n}"}
        placed = {"id": f"rel-placed-{n}", "type": "order.placed", "occurred_at": now.isoformat()}
        placed |= {"member": {"email": referral.friend.email}, "order": order}
        completed = {"id": f"rel-done-{n}", "type": "order.completed", "occurred_at": now.isoformat()}
        completed["order"] = {"id": f"REL-{n}"}
        assert _signed_event(client, placed).status_code in (200, 201, 202)
        # In a thread, so that a hang fails this test instead of stalling the run.
        answer: list = []
        call = threading.Thread(target=_post_into, args=(answer, client, completed), daemon=True)
        started = time.monotonic()
        call.start()
        call.join(timeout=20)
        # Bounded by the broker socket timeouts (3 s), not hung: the shop's request returns.
        assert answer, f"the webhook was still waiting after {time.monotonic() - started:.0f}s (frozen Redis)"
        assert answer[0].status_code in (200, 201, 202), answer[0].content
    # Both credits wait in the outbox for the broker (an outage counts no attempt), none was lost.
    pending = OutboxMessage.objects.filter(target=credit_referral_task.name, dispatched_at__isnull=True)
    assert sorted(m.args[0] for m in pending if m.attempts == 0) == sorted(r.pk for r in referrals)
    assert OrderEvent.objects.filter(event_id__startswith="rel-").count() == 4
    assert set(Referral.objects.filter(pk__in=[r.pk for r in referrals]).values_list("state", flat=True)) == {
        ReferralState.QUALIFIED
    }
    # Redis back or not, the database sweep (beat) credits each exactly once.
    assert credit_due_referrals() == {"credited": 2}
    assert credit_due_referrals() == {}
    assert Coupon.objects.filter(referral__in=referrals).count() == 2


def _complete_first_order(referral):
    order = OrderFactory(buyer=referral.friend)
    with transaction.atomic():  # the orders app's transaction
        pass_first_order_event(order=order, event="placed", occurred_at=timezone.now())
    with transaction.atomic():
        pass_first_order_event(order=order, event="completed", occurred_at=timezone.now())


def test_redis_down_while_orders_complete_then_the_sweep_credits_each_once(broker_at, caplog):
    broker_at("redis://127.0.0.1:1/0")  # nothing listens there: every publish fails
    referrals = [ReferralFactory() for _ in range(5)]
    for referral in referrals:
        started = time.monotonic()
        _complete_first_order(referral)  # accepted: no exception reaches the caller
        assert time.monotonic() - started < 10  # fails fast instead of hanging
    assert OutboxMessage.objects.filter(target=credit_referral_task.name, dispatched_at__isnull=True).count() == 5
    states = set(Referral.objects.filter(pk__in=[r.pk for r in referrals]).values_list("state", flat=True))
    assert states == {ReferralState.QUALIFIED}
    assert not Coupon.objects.exists()
    # Broker back (the sweep is beat's job; it needs only the database).
    assert credit_due_referrals() == {"credited": 5}
    assert credit_due_referrals() == {}
    for referral in referrals:
        assert Coupon.objects.filter(referral=referral).count() == 1
    assert Coupon.objects.count() == 5


@pytest.mark.postgres
def test_a_worker_killed_mid_credit_leaves_nothing_and_a_rerun_gives_one_coupon(tmp_path):
    referral = ReferralFactory(state=ReferralState.QUALIFIED, completed_at=timezone.now(), credit_due_at=timezone.now())
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "referral_portal.settings",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "VAR_DIR": str(tmp_path),
    }
    if db.get("PASSWORD"):
        env["PGPASSWORD"] = db["PASSWORD"]
    # The process dies (no exception handling, no rollback of its own) after the counter
    # went up, the coupon and its ledger row were inserted and the state changed — before commit.
    script = textwrap.dedent(
        f"""
        import os, django
        django.setup()
        from referrals.services import batch, credit_one, crediting
        def die(*args, **kwargs):
            os._exit(9)
        batch.notify_many = die  # the ORM path (SQLite)
        credit_one.notify_many = die  # the PostgreSQL function's path: after the function call, before commit
        crediting.credit_referral(referral_id={referral.pk})
        """
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, timeout=60)
    assert result.returncode == 9, result.stderr.decode()
    referral.refresh_from_db()
    assert referral.state == ReferralState.QUALIFIED
    assert not Coupon.objects.filter(referral=referral).exists()
    assert not MonthlyRewardCounter.objects.filter(referrer=referral.referrer, count__gt=0).exists()
    # The next sweep (or the redelivered task) finishes the job, once.
    assert credit_due_referrals() == {"credited": 1}
    assert credit_referral_task(referral.pk) == ReferralState.CREDITED
    assert Coupon.objects.filter(referral=referral).count() == 1
    assert MonthlyRewardCounter.objects.get(referrer=referral.referrer).count == 1


@pytest.mark.redis
def test_a_real_worker_on_redis_credits_a_referral_once(broker_at, redis_url):
    celery_app = broker_at(redis_url)
    referral = ReferralFactory(state=ReferralState.QUALIFIED, completed_at=timezone.now(), credit_due_at=timezone.now())
    with start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        credit_referral_task.delay(referral.pk)
        credit_referral_task.delay(referral.pk)  # a duplicate message
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            referral.refresh_from_db()
            if referral.state == ReferralState.CREDITED:
                break
            time.sleep(0.2)
        time.sleep(1)  # let the duplicate run too
    referral.refresh_from_db()
    assert referral.state == ReferralState.CREDITED
    assert Coupon.objects.filter(referral=referral).count() == 1


@pytest.mark.redis
def test_completion_enqueues_after_commit_and_a_real_worker_credits(broker_at, redis_url):
    celery_app = broker_at(redis_url)
    referral = ReferralFactory()
    with start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        _complete_first_order(referral)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            referral.refresh_from_db()
            if referral.state == ReferralState.CREDITED:
                break
            time.sleep(0.2)
    assert referral.state == ReferralState.CREDITED
    assert Coupon.objects.filter(referral=referral).count() == 1
