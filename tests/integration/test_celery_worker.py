"""A real Celery worker on Redis executes one of the project's real tasks."""

import time
from datetime import timedelta

import pytest
from celery.contrib.testing.worker import start_worker
from django.utils import timezone

from accounts.models import IPSighting
from accounts.tasks import purge_raw_ips
from referral_portal.celery import app

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.redis]


def _reset_pool():
    # The producer pool was built for the previous broker URL; drop it.
    if app._pool is not None:
        app._pool.force_close_all()
        app._pool = None
    # The producer pool holds the closed connection pool once anything was published (e.g. by the e2e tests).
    app.amqp._producer_pool = None


@pytest.fixture
def redis_celery_app(redis_url):
    saved = {k: app.conf[k] for k in ("broker_url", "broker_transport_options")}
    app.conf.broker_url = redis_url
    app.conf.broker_transport_options = {"socket_timeout": 3, "socket_connect_timeout": 3, "visibility_timeout": 3600}
    _reset_pool()
    try:
        yield app
    finally:
        app.conf.update(saved)
        _reset_pool()


def test_worker_executes_purge_raw_ips(redis_celery_app):
    old = IPSighting.objects.create(
        kind="login", ip_hash="h1", raw_ip="203.0.113.9", seen_at=timezone.now() - timedelta(days=40)
    )
    fresh = IPSighting.objects.create(kind="login", ip_hash="h2", raw_ip="203.0.113.10")
    with start_worker(redis_celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        purge_raw_ips.delay()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            old.refresh_from_db()
            if old.raw_ip is None:
                break
            time.sleep(0.2)
    old.refresh_from_db()
    fresh.refresh_from_db()
    assert old.raw_ip is None
    assert old.ip_hash == "h1"
    assert fresh.raw_ip == "203.0.113.10"
