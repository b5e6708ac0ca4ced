"""Liveness (/healthz, the load balancer's) vs the dependency report and metrics (monitoring's)."""

from datetime import timedelta

import pytest
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from lib import breaker
from referrals.reasons import ReasonCode, ReferralState
from tests.factories import JobRunFactory, OutboxMessageFactory, ReferralFactory, TaskDeliveryFactory, UserFactory

pytestmark = pytest.mark.django_db

UNREACHABLE_REDIS = {
    "default": {
        "BACKEND": "lib.cache.ReusedClientRedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",
        "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
    }
}


def test_healthz_says_the_process_can_serve_members(client):
    response = client.get(reverse("healthz"))
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


def test_healthz_does_not_depend_on_redis(client, settings):
    """A Redis outage must not take every web node out of the load balancer: members are still served."""
    from referral_portal.celery import app

    original = app.conf.broker_url
    app.conf.broker_url = "redis://127.0.0.1:1/0"
    try:
        with override_settings(CACHES=UNREACHABLE_REDIS):
            response = client.get(reverse("healthz"))
    finally:
        app.conf.broker_url = original
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


def test_healthz_reports_a_broken_database(client, monkeypatch):
    from referral_portal import monitoring

    monkeypatch.setattr(monitoring, "database_ok", lambda: False)
    response = client.get(reverse("healthz"))
    assert response.status_code == 503
    assert response.json()["down"] == ["database"]


@pytest.mark.parametrize("url_name", ["healthz_dependencies", "metrics"])
def test_monitoring_answers_staff_or_the_token_only(client, settings, url_name):
    settings.METRICS_TOKEN = "scrape-secret-123"
    assert client.get(reverse(url_name)).status_code == 403
    assert client.get(reverse(url_name), HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    client.force_login(UserFactory())  # a member
    assert client.get(reverse(url_name)).status_code == 403
    client.logout()
    assert client.get(reverse(url_name), HTTP_AUTHORIZATION="Bearer scrape-secret-123").status_code == 200
    client.force_login(UserFactory(is_staff=True))
    assert client.get(reverse(url_name)).status_code == 200


def test_an_empty_token_never_opens_monitoring(client, settings):
    settings.METRICS_TOKEN = ""
    assert client.get(reverse("metrics"), HTTP_AUTHORIZATION="Bearer ").status_code == 403


def test_the_dependency_report_names_every_dependency_and_the_backlogs(staff_client):
    now = timezone.now()
    ReferralFactory(state=ReferralState.QUALIFIED, completed_at=now, credit_due_at=now - timedelta(hours=13))
    ReferralFactory(
        state=ReferralState.QUALIFIED,
        completed_at=now,
        credit_due_at=now - timedelta(hours=30),
        reason_code=ReasonCode.TECHNICAL_DELAY,
    )
    ReferralFactory(state=ReferralState.QUALIFIED, completed_at=now, credit_due_at=now + timedelta(hours=3))
    OutboxMessageFactory(created_at=now - timedelta(minutes=2))
    TaskDeliveryFactory(deliveries=4, parked_at=now)
    body = staff_client.get(reverse("healthz_dependencies")).json()
    assert body["status"] == "ok"
    assert (body["database"], body["cache"], body["broker"]) == ("ok", "ok", "ok")
    assert body["outbox_pending"] == 1 and 119 < body["outbox_oldest_pending_seconds"] < 200
    assert 30 * 3600 - 60 < body["oldest_uncredited_seconds"] < 30 * 3600 + 60
    assert body["referrals_technical_delay"] == 1
    assert body["parked_tasks"] == 1


def test_the_dependency_report_says_when_redis_is_down_at_once_once_detected(staff_client):
    with override_settings(CACHES=UNREACHABLE_REDIS):
        response = staff_client.get(reverse("healthz_dependencies"))
        assert response.status_code == 503
        assert response.json()["down"] == ["cache"]
        assert response.json()["redis_breakers"] == {"127.0.0.1:1": "open"}


def test_metrics_expose_backlogs_jobs_webhook_answers_and_breakers(client, settings):
    settings.METRICS_TOKEN = "scrape-secret-123"
    now = timezone.now()
    ReferralFactory(state=ReferralState.QUALIFIED, completed_at=now, credit_due_at=now - timedelta(hours=13))
    OutboxMessageFactory(created_at=now - timedelta(minutes=2))
    JobRunFactory(name="referrals.tasks.credit_due_referrals", last_duration_seconds=2.5, last_count=40)
    client.post("/api/order-events/", data=b"{}", content_type="application/json")  # unsigned: 401
    breaker.breaker_for("redis://cache.internal:6379/0").failed()
    text = client.get(reverse("metrics"), HTTP_AUTHORIZATION="Bearer scrape-secret-123").content.decode()
    lines = {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line[:1] != "#"}
    assert 13 * 3600 - 60 < lines["portal_oldest_uncredited_seconds"] < 13 * 3600 + 60
    assert lines["portal_referrals_technical_delay"] == 0
    assert lines["portal_outbox_pending"] == 1
    assert 119 < lines["portal_outbox_oldest_pending_seconds"] < 200
    assert lines['portal_job_last_duration_seconds{job="referrals.tasks.credit_due_referrals"}'] == 2.5
    assert lines['portal_job_last_rows{job="referrals.tasks.credit_due_referrals"}'] == 40
    assert lines['portal_redis_breaker_state{server="cache.internal:6379"}'] == 2
    assert lines['portal_order_events_total{status="401"}'] >= 1
    assert lines["portal_parked_tasks"] == 0


def test_every_response_carries_a_request_id(client):
    response = client.get(reverse("home"), HTTP_X_REQUEST_ID="abc-123")
    assert response["X-Request-ID"] == "abc-123"
    response = client.get(reverse("home"), HTTP_X_REQUEST_ID="bad id with spaces")
    assert response["X-Request-ID"] != "bad id with spaces"
    assert len(response["X-Request-ID"]) == 32
