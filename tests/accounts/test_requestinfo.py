import pytest
from django.conf import settings
from django.urls import reverse

from accounts.devices import record_sighting
from accounts.models import AccountDevice, Device, IPSighting
from lib.client import client_info
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_first_visit_sets_a_signed_long_lived_device_cookie(client):
    response = client.get(reverse("home"))
    cookie = response.cookies[settings.DEVICE_COOKIE_NAME]
    assert cookie["httponly"]
    assert int(cookie["max-age"]) > 365 * 24 * 3600
    # The second visit keeps the same id: no new cookie is set.
    response = client.get(reverse("home"))
    assert settings.DEVICE_COOKIE_NAME not in response.cookies


def test_tampered_device_cookie_is_replaced(client):
    client.cookies[settings.DEVICE_COOKIE_NAME] = "forged-value"
    response = client.get(reverse("home"))
    assert response.cookies[settings.DEVICE_COOKIE_NAME].value != "forged-value"


def test_record_sighting_stores_only_hashes_and_country(rf):
    user = UserFactory()
    request = rf.get("/", REMOTE_ADDR="8.8.8.8", HTTP_USER_AGENT="pytest")
    request.device_id = "device-abc"
    device, sighting = record_sighting(client=client_info(request), kind="login", member=user)
    assert "device-abc" not in device.id_hash
    assert sighting.ip_country == "US"
    assert "8.8.8.8" not in sighting.ip_hash
    assert AccountDevice.objects.filter(user=user, device=device).count() == 1
    record_sighting(client=client_info(request), kind="login", member=user)
    assert Device.objects.count() == 1
    assert AccountDevice.objects.count() == 1
    assert IPSighting.objects.count() == 2


@pytest.mark.parametrize(
    ("behind_proxy", "forwarded", "expected"),
    [
        (False, "8.8.8.8", "10.0.0.5"),  # no proxy configured: the header is ignored
        (True, "8.8.8.8", "8.8.8.8"),
        (True, "1.2.3.4, 8.8.8.8", "8.8.8.8"),  # the left entry is the client's own (forgeable) claim
        (True, "not-an-ip", "10.0.0.5"),
        (True, "", "10.0.0.5"),
    ],
)
def test_client_ip_trusts_only_the_address_our_proxy_saw(rf, settings, behind_proxy, forwarded, expected):
    from lib.client import client_ip

    settings.BEHIND_PROXY = behind_proxy
    request = rf.get("/", REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR=forwarded)
    assert client_ip(request) == expected
