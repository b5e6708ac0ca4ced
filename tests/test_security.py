"""Security settings of issue 16 (README "Security"): response headers and `check --deploy` on the shop simulation
and the SMS backend."""

from __future__ import annotations

import pytest

from referral_portal.checks import check_shop_simulation, check_sms_backend
from tests.test_settings import _deploy_check

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("url", ["/", "/accounts/login/", "/shop/", "/api/order-events/", "/admin/login/"])
def test_every_response_carries_permissions_policy_and_cross_origin_opener_policy(client, url):
    response = client.get(url)
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    policy = response["Permissions-Policy"]
    for feature in ("camera=()", "microphone=()", "geolocation=()", "payment=()", "usb=()"):
        assert feature in policy
    assert "web-share=(self)" in policy  # the Invite Friends share button keeps working


def test_check_deploy_warns_while_the_shop_simulation_is_on(settings):
    settings.SHOP_SIMULATION = True
    assert [w.id for w in check_shop_simulation(None)] == ["portal.W002"]
    settings.SHOP_SIMULATION = False
    assert check_shop_simulation(None) == []


@pytest.mark.parametrize(
    "backend", ["accounts.sms.ConsoleSMSBackend", "accounts.sms.LocmemSMSBackend", "accounts.sms.FileSMSBackend"]
)
def test_with_debug_off_a_backend_that_never_reaches_a_phone_fails_the_deploy_check(settings, backend):
    settings.DEBUG, settings.SMS_BACKEND = False, backend
    assert [(e.id, e.level >= 40) for e in check_sms_backend(None)] == [("portal.E003", True)]
    settings.DEBUG = True  # `make run`
    assert check_sms_backend(None) == []


def test_the_http_sms_backend_needs_an_https_endpoint(settings):
    settings.DEBUG, settings.SMS_BACKEND = False, "accounts.sms.HTTPSMSBackend"
    settings.SMS_API_URL = "http://sms.example/messages"
    assert [e.id for e in check_sms_backend(None)] == ["portal.E004"]
    settings.SMS_API_URL = "https://sms.example/messages"
    assert check_sms_backend(None) == []


def test_manage_py_check_deploy_fails_on_the_console_sms_backend_and_warns_on_the_shop_simulation():
    sms = _deploy_check(SMS_BACKEND="accounts.sms.ConsoleSMSBackend")
    assert sms.returncode != 0 and "portal.E003" in sms.stderr
    shop = _deploy_check(SHOP_SIMULATION="1")
    assert shop.returncode != 0 and "portal.W002" in shop.stderr
    # With DEBUG off and nothing set, the defaults are what production needs of the shop simulation.
    unset = _deploy_check(SHOP_SIMULATION="", SMS_BACKEND="accounts.sms.HTTPSMSBackend")
    assert "portal.W002" not in unset.stderr


def test_the_http_sms_backend_posts_json_with_the_token_and_reports_failures(settings, monkeypatch):
    import json
    import urllib.request

    from accounts.sms import HTTPSMSBackend, SMSDeliveryError

    settings.SMS_API_URL, settings.SMS_API_TOKEN = "https://sms.example/messages", "provider-token"
    sent = {}

    class Answer:
        def __init__(self, status):
            self.status = status

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    def fake_urlopen(request, timeout):
        sent.update(url=request.full_url, body=json.loads(request.data), auth=request.headers["Authorization"])
        return Answer(sent.setdefault("status", 202))

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    HTTPSMSBackend().send("+14155550123", "Your code is 123456")
    assert sent["body"] == {"to": "+14155550123", "text": "Your code is 123456"}
    assert sent["auth"] == "Bearer provider-token"
    sent["status"] = 500
    monkeypatch.setattr(urllib.request, "urlopen", lambda request, timeout: Answer(500))
    with pytest.raises(SMSDeliveryError):
        HTTPSMSBackend().send("+14155550123", "Your code is 123456")
