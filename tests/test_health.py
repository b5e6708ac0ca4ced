import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_healthz_reports_database_and_broker(client):
    response = client.get(reverse("healthz"))
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "broker": "ok"}


def test_healthz_names_what_is_down(client, monkeypatch):
    from referral_portal import views

    monkeypatch.setattr(views, "_broker_ok", lambda: False)
    response = client.get(reverse("healthz"))
    assert response.status_code == 503
    assert response.json()["down"] == ["broker"]
    assert response.json()["database"] == "ok"


def test_healthz_reports_a_broken_database(client, monkeypatch):
    from referral_portal import views

    monkeypatch.setattr(views, "_database_ok", lambda: False)
    response = client.get(reverse("healthz"))
    assert response.status_code == 503
    assert response.json()["down"] == ["database"]


def test_healthz_broker_check_fails_when_redis_is_unreachable(settings):
    from referral_portal import views
    from referral_portal.celery import app

    original = app.conf.broker_url
    app.conf.broker_url = "redis://127.0.0.1:1/0"
    try:
        assert views._broker_ok() is False
    finally:
        app.conf.broker_url = original


def test_every_response_carries_a_request_id(client):
    response = client.get(reverse("home"), HTTP_X_REQUEST_ID="abc-123")
    assert response["X-Request-ID"] == "abc-123"
    response = client.get(reverse("home"), HTTP_X_REQUEST_ID="bad id with spaces")
    assert response["X-Request-ID"] != "bad id with spaces"
    assert len(response["X-Request-ID"]) == 32
