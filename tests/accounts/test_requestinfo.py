import pytest
from django.conf import settings
from django.urls import reverse

from accounts.models import AccountDevice, Device, IPSighting
from accounts.services import record_sighting
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
    device, sighting = record_sighting(request=request, kind="login", user=user)
    assert "device-abc" not in device.id_hash
    assert sighting.ip_country == "US"
    assert "8.8.8.8" not in sighting.ip_hash
    assert AccountDevice.objects.filter(user=user, device=device).count() == 1
    record_sighting(request=request, kind="login", user=user)
    assert Device.objects.count() == 1
    assert AccountDevice.objects.count() == 1
    assert IPSighting.objects.count() == 2
