"""Login throttling with django-axes (accounts/throttle.py): stop guessing, never lock a member out of
a browser they have used with their account before."""

import re
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.test import Client
from django.urls import reverse

from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.member(email="maya@example.com", signed_in=False)]

PASSWORD = "pass-for-tests-123"
HOME_IP = "198.51.100.7"
ATTACKER_IP = "203.0.113.9"
LOGIN = reverse("accounts:login")


def attempt(client: Client, email: str, password: str, ip: str):
    return client.post(LOGIN, {"username": email, "password": password}, REMOTE_ADDR=ip)


def logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


@pytest.fixture
def members_browser(member):
    """A browser where the member has logged in before (so an AccountDevice row exists), now logged out."""
    browser = Client()
    browser.get(reverse("home"), REMOTE_ADDR=HOME_IP)  # receives its device cookie
    assert attempt(browser, member.email, PASSWORD, HOME_IP).status_code == 302
    browser.post(reverse("accounts:logout"), REMOTE_ADDR=HOME_IP)
    assert not logged_in(browser)
    return browser


def test_five_wrong_passwords_lock_out_a_new_device_with_a_clear_page(member):
    stranger = Client()
    for _ in range(4):
        assert attempt(stranger, member.email, "guess", ATTACKER_IP).status_code == 200
    response = attempt(stranger, member.email, "guess", ATTACKER_IP)
    assert response.status_code == 429
    html = response.content.decode()
    assert "Too many attempts" in html and "15 minutes" in html
    # Even the right password is refused now from there.
    response = attempt(stranger, member.email, PASSWORD, ATTACKER_IP)
    assert response.status_code == 429
    assert not logged_in(stranger)


def test_changing_the_case_of_the_email_does_not_reset_the_count(member):
    stranger = Client()
    for email in ["maya@example.com", "MAYA@example.com", "Maya@Example.com", "maya@EXAMPLE.com"]:
        attempt(stranger, email, "guess", ATTACKER_IP)
    assert attempt(stranger, "mAyA@example.com", "guess", ATTACKER_IP).status_code == 429


def test_guessing_from_many_ips_locks_the_address_for_new_devices(member):
    for n in range(5):
        attempt(Client(), member.email, "guess", f"203.0.113.{n + 10}")
    newcomer = Client()
    assert attempt(newcomer, member.email, PASSWORD, "192.0.2.55").status_code == 429
    assert not logged_in(newcomer)


def test_one_ip_guessing_many_accounts_is_stopped(member):
    stranger = Client()
    for n in range(5):
        attempt(stranger, f"someone{n}@example.com", "guess", ATTACKER_IP)
    assert attempt(Client(), member.email, PASSWORD, ATTACKER_IP).status_code == 429


def test_member_on_a_known_device_still_logs_in_while_strangers_are_locked_out(member, members_browser):
    for n in range(6):
        attempt(Client(), member.email, "guess", f"203.0.113.{n + 10}")
    assert attempt(Client(), member.email, PASSWORD, "192.0.2.55").status_code == 429
    response = attempt(members_browser, member.email, PASSWORD, HOME_IP)
    assert response.status_code == 302
    assert logged_in(members_browser)


def test_known_device_still_has_a_limit_for_guessing(member, members_browser):
    for _ in range(5):
        attempt(members_browser, member.email, "guess", HOME_IP)
    assert attempt(members_browser, member.email, PASSWORD, HOME_IP).status_code == 429
    assert not logged_in(members_browser)


def test_a_device_known_for_another_account_gets_no_favour(member):
    other = UserFactory(email="other@example.com")
    browser = Client()
    browser.get(reverse("home"), REMOTE_ADDR=HOME_IP)
    attempt(browser, other.email, PASSWORD, HOME_IP)
    browser.post(reverse("accounts:logout"))
    for n in range(5):
        attempt(Client(), member.email, "guess", f"203.0.113.{n + 10}")
    assert attempt(browser, member.email, PASSWORD, HOME_IP).status_code == 429


def test_lockout_ends_after_the_cool_off(member):
    stranger = Client()
    with time_machine.travel("2026-03-02 12:00:00Z", tick=False) as clock:
        for _ in range(5):
            attempt(stranger, member.email, "guess", ATTACKER_IP)
        assert attempt(stranger, member.email, PASSWORD, ATTACKER_IP).status_code == 429
        clock.shift(timedelta(minutes=16))
        assert attempt(stranger, member.email, PASSWORD, ATTACKER_IP).status_code == 302


def test_setting_a_new_password_by_email_lifts_the_lockout_of_that_address(member):
    for n in range(5):
        attempt(Client(), member.email, "guess", f"203.0.113.{n + 10}")
    browser = Client()
    browser.post(reverse("accounts:password_reset"), {"email": member.email}, REMOTE_ADDR="192.0.2.55")
    link = re.search(r"https?://[^/]+(/accounts/reset/\S+)", mail.outbox[0].body).group(1)
    form_url = browser.get(link, follow=True).redirect_chain[-1][0]
    browser.post(form_url, {"new_password1": "reset-pass-2026-x", "new_password2": "reset-pass-2026-x"})
    assert attempt(browser, member.email, "reset-pass-2026-x", "192.0.2.55").status_code == 302


def test_force_login_is_unaffected_by_axes(member):
    client = Client()
    client.force_login(member)
    assert client.get(reverse("accounts:profile")).status_code == 200
