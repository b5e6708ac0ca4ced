"""The throttling policy as a function: which axes lockout keys apply to a request."""

import pytest
from django.test import RequestFactory

from accounts.identity import keyed_hash
from accounts.throttle import KNOWN_DEVICE_PARAMETERS, UNKNOWN_DEVICE_PARAMETERS, lockout_parameters
from lib.client import set_device_cookie
from tests.factories import AccountDeviceFactory, DeviceFactory, UserFactory

pytestmark = pytest.mark.django_db


def request_with_device(device_id: str | None):
    request = RequestFactory().post("/accounts/login/", {"username": "maya@example.com"})
    if device_id:
        from django.http import HttpResponse

        response = HttpResponse()
        set_device_cookie(response, device_id)
        request.COOKIES["rp_device"] = response.cookies["rp_device"].value
    return request


def test_known_device_for_that_email_gets_the_narrow_keys():
    user = UserFactory(email="maya@example.com")
    AccountDeviceFactory(user=user, device=DeviceFactory(id_hash=keyed_hash("dev-1", purpose="device")))
    request = request_with_device("dev-1")
    assert lockout_parameters(request, {"username": "Maya@Example.com"}) == KNOWN_DEVICE_PARAMETERS


@pytest.mark.parametrize("device_id", [None, "dev-unknown"])
def test_unknown_or_missing_device_gets_ip_and_email_keys(device_id):
    UserFactory(email="maya@example.com")
    assert lockout_parameters(request_with_device(device_id), {"username": "maya@example.com"}) == (
        UNKNOWN_DEVICE_PARAMETERS
    )


def test_a_forged_device_cookie_is_not_a_known_device():
    user = UserFactory(email="maya@example.com")
    AccountDeviceFactory(user=user, device=DeviceFactory(id_hash=keyed_hash("dev-1", purpose="device")))
    request = RequestFactory().post("/accounts/login/")
    request.COOKIES["rp_device"] = "dev-1"  # unsigned
    assert lockout_parameters(request, {"username": "maya@example.com"}) == UNKNOWN_DEVICE_PARAMETERS


def test_every_policy_keys_on_the_ip_address():
    for parameters in (KNOWN_DEVICE_PARAMETERS, UNKNOWN_DEVICE_PARAMETERS):
        assert any(p == "ip_address" or "ip_address" in p for p in parameters)
