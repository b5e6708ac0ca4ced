import re
from datetime import timedelta

import pytest
import time_machine
from django.conf import settings
from django.core import mail
from django.test import Client
from django.urls import reverse

from accounts.identity import keyed_hash
from accounts.models import AccountDevice, Device, IPSighting, User
from accounts.services import email_verification_token
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

FINGERPRINT = "ab" * 32
PASSWORD = "pass-for-tests-123"


def signup_data(**overrides):
    data = {
        "first_name": "Nora",
        "last_name": "New",
        "email": "Nora@Example.com",
        "country": "GB",
        "password": "a-long-pass-phrase-2026",
        "fingerprint": FINGERPRINT,
    }
    return {**data, **overrides}


# --- sign-up ------------------------------------------------------------------------


def test_signup_page_loads_the_fingerprint_script_without_inline_js(client):
    html = client.get(reverse("accounts:signup")).content.decode()
    assert 'name="fingerprint"' in html
    assert re.search(r'<script src="[^"]*js/fingerprint\.js" defer></script>', html)
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)  # every script has a src


def test_signup_creates_the_member_records_device_and_ip_and_logs_in(client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("accounts:signup"), signup_data(), REMOTE_ADDR="81.2.69.142")
    assert response.status_code == 302
    assert response.url == reverse("referrals:invite")
    user = User.objects.get(email="nora@example.com")
    assert str(user.country) == "GB"
    assert int(client.session["_auth_user_id"]) == user.pk
    sighting = IPSighting.objects.get(user=user)
    assert sighting.kind == "signup"
    assert sighting.ip_country == "GB"
    link = AccountDevice.objects.get(user=user)
    assert link.first_event == "signup"
    assert link.device.fingerprint_hash == keyed_hash(FINGERPRINT, purpose="fingerprint")
    # ...and the confirmation e-mail went out.
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["nora@example.com"]
    assert "/accounts/verify-email/" in mail.outbox[0].body


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"email": "not-an-email"}, "email", "valid email"),
        ({"password": "123"}, "password", "too short"),
        ({"first_name": ""}, "first_name", "required"),
        ({"country": "XX"}, "country", "valid choice"),
    ],
)
def test_signup_bad_input_is_a_form_error(client, overrides, field, message):
    response = client.post(reverse("accounts:signup"), signup_data(**overrides))
    assert response.status_code == 200
    assert message in str(response.context["form"].errors[field]).lower()
    assert not User.objects.exists()
    assert not IPSighting.objects.exists()


def test_signup_with_an_existing_email_in_another_case_is_refused(client):
    UserFactory(email="nora@example.com")
    response = client.post(reverse("accounts:signup"), signup_data(email="NORA@example.com"))
    assert "already exists" in str(response.context["form"].errors["email"])


def test_a_forged_fingerprint_is_ignored_not_stored(client):
    client.post(reverse("accounts:signup"), signup_data(fingerprint="<script>"))
    assert Device.objects.get().fingerprint_hash == ""


# --- login / logout ---------------------------------------------------------------


def test_login_page_loads_the_fingerprint_script(client):
    html = client.get(reverse("accounts:login")).content.decode()
    assert 'name="fingerprint"' in html and "js/fingerprint.js" in html


def test_login_records_a_login_sighting_and_the_device(client):
    user = UserFactory(email="maya@example.com")
    response = client.post(
        reverse("accounts:login"),
        {"username": "Maya@Example.com", "password": PASSWORD, "fingerprint": FINGERPRINT},
        REMOTE_ADDR="8.8.8.8",
    )
    assert response.status_code == 302
    assert int(client.session["_auth_user_id"]) == user.pk
    sighting = IPSighting.objects.get(user=user)
    assert (sighting.kind, sighting.ip_country) == ("login", "US")
    assert AccountDevice.objects.get(user=user).device.fingerprint_hash == keyed_hash(
        FINGERPRINT, purpose="fingerprint"
    )


def test_failed_login_records_nothing_and_says_why(client):
    UserFactory(email="maya@example.com")
    response = client.post(reverse("accounts:login"), {"username": "maya@example.com", "password": "wrong"})
    assert response.status_code == 200
    assert "do not match an account" in response.content.decode()
    assert not IPSighting.objects.exists()


def test_logout(client):
    client.force_login(UserFactory())
    response = client.post(reverse("accounts:logout"), follow=True)
    assert "_auth_user_id" not in client.session
    assert response.status_code == 200


# --- password change and reset -----------------------------------------------------


def test_password_change(client):
    user = UserFactory()
    client.force_login(user)
    response = client.post(
        reverse("accounts:password_change"),
        {"old_password": PASSWORD, "new_password1": "brand-new-pass-2026", "new_password2": "brand-new-pass-2026"},
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password("brand-new-pass-2026")


def test_password_reset_by_email(client):
    user = UserFactory(email="maya@example.com")
    client.post(reverse("accounts:password_reset"), {"email": "maya@example.com"})
    assert len(mail.outbox) == 1
    link = re.search(r"https?://[^/]+(/accounts/reset/\S+)", mail.outbox[0].body).group(1)
    response = client.get(link, follow=True)
    form_url = response.redirect_chain[-1][0]
    response = client.post(form_url, {"new_password1": "reset-pass-2026-x", "new_password2": "reset-pass-2026-x"})
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password("reset-pass-2026-x")


def test_password_reset_for_unknown_address_reveals_nothing(client):
    response = client.post(reverse("accounts:password_reset"), {"email": "nobody@example.com"}, follow=True)
    assert "If an account exists" in response.content.decode()
    assert mail.outbox == []


# --- e-mail verification -----------------------------------------------------------


def test_the_emailed_link_confirms_the_address(client):
    user = UserFactory()
    response = client.get(reverse("accounts:verify_email", args=[email_verification_token(member=user)]))
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.email_verified_at is not None


def test_a_tampered_link_is_refused_clearly(client):
    user = UserFactory()
    token = email_verification_token(member=user)
    response = client.get(reverse("accounts:verify_email", args=[token[:-2] + "xx"]))
    assert response.status_code == 400
    assert "not valid" in response.content.decode()
    user.refresh_from_db()
    assert user.email_verified_at is None


def test_an_old_link_has_expired():
    user = UserFactory()
    with time_machine.travel("2026-03-02 12:00:00Z", tick=False) as clock:
        token = email_verification_token(member=user)
        clock.shift(timedelta(days=3, seconds=1))
        response = Client().get(reverse("accounts:verify_email", args=[token]))
    assert response.status_code == 400
    assert "expired" in response.content.decode()


def test_a_link_for_a_previous_address_does_not_confirm_the_new_one(client):
    user = UserFactory(email="old@example.com")
    token = email_verification_token(member=user)
    User.objects.filter(pk=user.pk).update(email="new@example.com")
    assert client.get(reverse("accounts:verify_email", args=[token])).status_code == 400


def test_resend_link_is_rate_limited(client):
    user = UserFactory()
    client.force_login(user)
    for _ in range(5):
        client.post(reverse("accounts:resend_verification"))
    response = client.post(reverse("accounts:resend_verification"), follow=True)
    assert len(mail.outbox) == 5
    assert "several links already" in response.content.decode()


# --- profile -----------------------------------------------------------------


def profile_data(**overrides):
    data = {
        "first_name": "Maya",
        "last_name": "Müller",
        "country": "DE",
        "language": "de",
        "time_zone": "Europe/Berlin",
    }
    return {**data, **overrides}


def test_profile_needs_login(client):
    assert client.get(reverse("accounts:profile")).status_code == 302


def test_profile_saves_country_language_and_time_zone(client):
    user = UserFactory()
    client.force_login(user)
    response = client.post(reverse("accounts:profile"), profile_data())
    assert response.status_code == 302
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "de"
    user.refresh_from_db()
    assert (str(user.country), user.language, user.time_zone) == ("DE", "de", "Europe/Berlin")


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"language": "xx"}, "language"),
        ({"country": "QQ"}, "country"),
        ({"first_name": ""}, "first_name"),
    ],
)
def test_profile_bad_input_is_a_form_error_and_nothing_changes(client, overrides, field):
    user = UserFactory(first_name="Maya")
    client.force_login(user)
    response = client.post(reverse("accounts:profile"), profile_data(**overrides))
    assert response.status_code == 200
    assert field in response.context["form"].errors
    user.refresh_from_db()
    assert (user.language, user.time_zone) == ("en", "UTC")
    assert 'class="nav-profile-name">Maya<' in response.content.decode()


def test_the_members_language_is_active_on_every_page(client):
    client.force_login(UserFactory(language="de"))
    response = client.get(reverse("accounts:profile"))
    assert '<html lang="de">' in response.content.decode()


def test_amounts_use_the_members_locale(client):
    client.force_login(UserFactory(language="de", country="US"))
    html = client.get(reverse("accounts:profile")).content.decode()
    assert "5,00\xa0$" in html  # German format of the US region's $5 reward

    client.force_login(UserFactory(language="en", country="US"))
    assert "$5.00" in client.get(reverse("accounts:profile")).content.decode()
