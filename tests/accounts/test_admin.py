import pytest
from django.urls import reverse

from accounts.forms import RegionAdminForm
from accounts.models import AccountStatus, Region
from tests.factories import AccountDeviceFactory, DeviceFactory, UserFactory

pytestmark = pytest.mark.django_db


def region_data(**overrides):
    data = {
        "country": "DE",
        "name": "Germany",
        "is_in_program": True,
        "currency": "EUR",
        "reward_amount": "5.00",
        "reward_min_spend": "20.00",
        "monthly_limit": 10,
        "coupon_valid_days": 30,
        "welcome_package": '[{"value": "4", "min_spend": "5.00"}, {"value": "5.00", "min_spend": "25"}]',
        "time_zone": "Europe/Berlin",
        "locale": "de_DE",
        "manual_coupon_ceiling": "50.00",
        "manual_coupon_approval_above": "20.00",
    }
    return {**data, **overrides}


def test_region_form_accepts_and_normalises_a_welcome_package():
    form = RegionAdminForm(region_data())
    assert form.is_valid(), form.errors
    region = form.save()
    assert region.welcome_package == [{"value": "4.00", "min_spend": "5.00"}, {"value": "5.00", "min_spend": "25.00"}]


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"welcome_package": '{"value": "4"}'}, "welcome_package", "Enter a list"),
        ({"welcome_package": '[{"value": "4"}]'}, "welcome_package", "exactly"),
        ({"welcome_package": '[{"value": "-4", "min_spend": "5"}]'}, "welcome_package", "positive"),
        ({"welcome_package": '[{"value": "0", "min_spend": "5"}]'}, "welcome_package", "positive"),
        ({"welcome_package": '[{"value": "abc", "min_spend": "5"}]'}, "welcome_package", "not an amount"),
        ({"welcome_package": '[{"value": "4.001", "min_spend": "5"}]'}, "welcome_package", "two decimal"),
        ({"welcome_package": '[{"value": "NaN", "min_spend": "5"}]'}, "welcome_package", "positive"),
        ({"welcome_package": '[{"value": "9", "min_spend": "5"}]'}, "welcome_package", "cannot exceed"),
        ({"time_zone": "Europe/Atlantis"}, "time_zone", "not a time zone"),
        ({"currency": "EURO"}, "currency", "at most 3 characters"),
        ({"currency": "XYZ"}, "currency", "not an ISO 4217"),
        ({"currency": "eu1"}, "currency", "not an ISO 4217"),
    ],
)
def test_region_form_rejects_bad_values_with_a_clear_message(overrides, field, message):
    form = RegionAdminForm(region_data(**overrides))
    assert not form.is_valid()
    assert message in str(form.errors[field])


def test_region_form_upper_cases_a_valid_currency():
    form = RegionAdminForm(region_data(currency="gbp"))
    assert form.is_valid(), form.errors
    assert form.cleaned_data["currency"] == "GBP"


def test_region_admin_uses_the_validating_form(staff_client):
    region = Region.objects.get(country="US")
    url = reverse("admin:accounts_region_change", args=[region.pk])
    assert staff_client.get(url).status_code == 200
    response = staff_client.post(url, region_data(country="US", name="US", time_zone="Nowhere/Land"))
    assert response.status_code == 200
    assert "not a time zone" in response.content.decode()
    region.refresh_from_db()
    assert region.time_zone == "UTC"


def test_device_admin_lists_the_accounts_on_a_device(staff_client):
    device = DeviceFactory()
    first = AccountDeviceFactory(device=device, user=UserFactory(email="first@example.com"))
    AccountDeviceFactory(device=device, user=UserFactory(email="second@example.com"))
    html = staff_client.get(reverse("admin:accounts_device_change", args=[device.pk])).content.decode()
    assert "first@example.com" in html and "second@example.com" in html
    assert first.first_event in html


def test_user_admin_shows_the_members_devices(staff_client):
    link = AccountDeviceFactory()
    AccountDeviceFactory(device=link.device)
    html = staff_client.get(reverse("admin:accounts_user_change", args=[link.user.pk])).content.decode()
    assert str(link.device) in html
    assert "accounts on this device" in html.lower()


def test_admin_actions_change_status_through_the_services(staff_client):
    # Each status action asks for a reason first (support.staff_actions), then calls the service.
    user = UserFactory()
    changelist = reverse("admin:accounts_user_changelist")

    def act(action, **form):
        data = {"action": action, "_selected_action": [user.pk], "confirm": "yes", "reason": "checked by staff"}
        return staff_client.post(changelist, {**data, **form})

    act("flag_for_review", reason_code="STAFF_REVIEW")
    user.refresh_from_db()
    assert (user.status, user.status_reason) == (AccountStatus.FLAGGED, "STAFF_REVIEW")
    assert user.status_changed_at is not None
    act("clear_flags")
    user.refresh_from_db()
    assert user.status == AccountStatus.ACTIVE
    act("suspend", reason_code="TERMS_VIOLATION")
    user.refresh_from_db()
    assert user.status == AccountStatus.SUSPENDED
    act("reactivate_accounts")
    user.refresh_from_db()
    assert user.status == AccountStatus.ACTIVE
