"""Invitation links, clicks, the attribution cookie and the landing page (docs/program-rules.md section 1)."""

from __future__ import annotations

import math
import threading
from datetime import timedelta

import pytest
import time_machine
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import AccountStatus, IPSighting
from coupons.models import Coupon
from referrals import codes
from referrals.models import Click, ReferralCode
from referrals.selectors.links import usable_code
from referrals.services import ensure_referral_code
from tests.factories import AccountDeviceFactory, ReferralCodeFactory, UserFactory

pytestmark = pytest.mark.django_db

COOKIE = settings.ATTRIBUTION_COOKIE_NAME


def click_url(code: str, **query) -> str:
    url = reverse("referrals:click", args=[code])
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


# --- codes -----------------------------------------------------------------------------------


def test_code_entropy_is_at_least_40_bits_and_alphabet_has_no_ambiguous_symbols():
    assert codes.LENGTH * math.log2(len(codes.ALPHABET)) >= 40
    assert codes.ENTROPY_BITS >= 40
    assert not set("0O1IL") & set(codes.ALPHABET)
    assert len(set(codes.ALPHABET)) == len(codes.ALPHABET)
    generated = {codes.generate_code() for _ in range(500)}
    assert len(generated) == 500
    assert all(codes.looks_valid(code) for code in generated)


def test_lookup_is_case_insensitive_and_ignores_spaces_and_dashes():
    code = ReferralCodeFactory(code="ABCD23456")
    assert usable_code("abcd23456") == code
    assert usable_code(" abc-d2345 6 ") == code
    assert usable_code("ABCD2345O") is None  # an O is never generated: no match, no error


def test_one_permanent_code_per_member():
    user = UserFactory()
    first = ensure_referral_code(member=user)
    assert ensure_referral_code(member=user) == first
    assert ReferralCode.objects.filter(user=user).count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_one_code_per_member_even_under_a_race():
    user = UserFactory()
    barrier = threading.Barrier(8)
    results, errors = [], []

    def worker():
        try:
            barrier.wait()
            results.append(ensure_referral_code(member=user).pk)
        except Exception as error:  # noqa: BLE001
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(set(results)) == 1
    assert ReferralCode.objects.filter(user=user).count() == 1


# --- clicks ------------------------------------------------------------------------------------


def test_click_records_code_channel_device_ip_and_sets_a_signed_cookie(client):
    code = ReferralCodeFactory()
    response = client.get(click_url(code.code.lower(), ch="whatsapp"), REMOTE_ADDR="81.2.69.142")
    assert response.status_code == 302
    assert response["Location"] == reverse("referrals:landing")
    click = Click.objects.get()
    assert click.referral_code == code
    assert click.channel == "whatsapp"
    assert click.device is not None
    assert click.ip_country == "GB"
    assert click.ip_hash and "81.2.69.142" not in click.ip_hash
    assert IPSighting.objects.filter(kind="click", ip_country="GB").count() == 1
    cookie = response.cookies[COOKIE]
    assert cookie["httponly"]
    assert int(cookie["max-age"]) == 30 * 24 * 3600
    assert code.code in cookie.value  # signed, readable value: code:click:time
    assert f":{click.pk}:" in cookie.value


def test_repeated_clicks_from_one_browser_reuse_its_device_and_keep_every_signal(client):
    from accounts.models import Device

    code = ReferralCodeFactory()
    for _ in range(2):
        client.get(click_url(code.code), REMOTE_ADDR="8.8.8.8", HTTP_USER_AGENT="Bench/1.0")
    assert Device.objects.count() == 1
    assert Device.objects.get().user_agent == "Bench/1.0"
    assert set(Click.objects.values_list("device_id", flat=True)) == {Device.objects.get().pk}
    sightings = IPSighting.objects.filter(kind="click")
    assert [(s.raw_ip, s.ip_country, s.user_agent, s.user_id) for s in sightings] == [
        ("8.8.8.8", "US", "Bench/1.0", None)
    ] * 2
    assert {c.ip_hash for c in Click.objects.all()} == {sightings[0].ip_hash}


@pytest.mark.parametrize("channel", ["", "tiktok", "TYPED", "typed", "<script>"])
def test_unknown_channels_count_as_other(client, channel):
    code = ReferralCodeFactory()
    response = client.get(click_url(code.code, ch=channel))
    assert response.status_code == 302
    assert Click.objects.get().channel == "other"


def test_click_ignores_next_and_redirects_only_to_the_landing_page(client):
    code = ReferralCodeFactory()
    response = client.get(click_url(code.code, next="https://evil.example/"))
    assert response["Location"] == reverse("referrals:landing")


@pytest.mark.parametrize("kind", ["unknown", "disabled", "flagged", "garbage"])
def test_unusable_codes_land_on_signup_without_any_sign(client, kind):
    code = ReferralCodeFactory()
    target = {"unknown": "ZZZZZZZZZ", "garbage": "%3Cscript%3E-x", "disabled": code.code, "flagged": code.code}[kind]
    if kind == "disabled":
        ReferralCode.objects.filter(pk=code.pk).update(is_active=False)
    if kind == "flagged":
        type(code.user).objects.filter(pk=code.user.pk).update(status=AccountStatus.FLAGGED)
    response = client.get(click_url(target, ch="email"))
    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:signup")
    assert COOKIE not in response.cookies
    assert Click.objects.count() == 0


def test_clicks_are_rate_limited_per_ip_but_still_redirect(client, settings):
    settings.REFERRAL_CLICK_RATE_LIMIT = 3
    code = ReferralCodeFactory()
    responses = [client.get(click_url(code.code), REMOTE_ADDR="8.8.8.8") for _ in range(5)]
    assert [r.status_code for r in responses] == [302] * 5
    assert {r["Location"] for r in responses} == {reverse("referrals:landing")}
    assert Click.objects.count() == 3
    # Another IP has its own budget.
    client.get(click_url(code.code), REMOTE_ADDR="81.2.69.142")
    assert Click.objects.count() == 4


def test_click_never_changes_reward_state(client):
    from tests.factories import ReferralFactory

    referral = ReferralFactory(referrer__phone_verified=True)
    before = (referral.state, referral.updated_at)
    client.get(click_url(referral.code.code))
    referral.refresh_from_db()
    assert (referral.state, referral.updated_at) == before


def test_click_is_a_hot_path_with_few_queries(client):
    code = ReferralCodeFactory()
    client.get(click_url(code.code))  # the device exists from now on
    with CaptureQueriesContext(connection) as queries:
        client.get(click_url(code.code))
    statements = [q["sql"] for q in queries.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]
    # PostgreSQL: one statement (code check + device upsert + sighting + click);
    # elsewhere: code lookup, device lookup + touch, IP sighting, click.
    assert len(statements) <= (1 if connection.vendor == "postgresql" else 5), statements


# --- landing ---------------------------------------------------------------------------------


def test_landing_shows_inviter_first_name_and_welcome_package(client):
    code = ReferralCodeFactory(user__first_name="Maya", user__last_name="Secretlast")
    client.get(click_url(code.code))
    response = client.get(reverse("referrals:landing"))
    body = response.content.decode()
    assert response.status_code == 200
    assert "Maya invited you" in body
    assert "Secretlast" not in body
    assert "$24.00" in body  # total of the default package
    assert "$4.00" in body and "Min. spend $5.00" in body
    assert reverse("accounts:signup") in body


def test_landing_uses_the_friends_currency_from_ip_country(client):
    from accounts.models import Region

    Region.objects.create(
        country="GB",
        name="United Kingdom",
        currency="GBP",
        welcome_package=[{"value": "3.00", "min_spend": "4.00"}],
    )
    code = ReferralCodeFactory()
    client.get(click_url(code.code), REMOTE_ADDR="81.2.69.142")
    body = client.get(reverse("referrals:landing"), REMOTE_ADDR="81.2.69.142").content.decode()
    assert "£3.00" in body
    assert "$" not in body.split("<main", 1)[1].split("</main>", 1)[0]


def test_landing_warns_when_the_country_is_not_in_the_program(client):
    code = ReferralCodeFactory()
    client.get(click_url(code.code), REMOTE_ADDR="77.88.8.8")
    body = client.get(reverse("referrals:landing"), REMOTE_ADDR="77.88.8.8").content.decode()
    assert "The program is not available in your country" in body
    assert "Your welcome package" not in body


def test_landing_warns_when_this_device_already_has_an_account(client):
    from accounts.identity import keyed_hash
    from accounts.models import Device

    code = ReferralCodeFactory()
    client.get(click_url(code.code))
    assert "This device already has an account" not in client.get(reverse("referrals:landing")).content.decode()
    device = Device.objects.get()
    AccountDeviceFactory(device=device)
    assert device.id_hash == keyed_hash(device_id(client), purpose="device")
    assert "This device already has an account" in client.get(reverse("referrals:landing")).content.decode()


def device_id(client) -> str:
    from lib.client import read_device_cookie

    class _Request:
        COOKIES = {settings.DEVICE_COOKIE_NAME: client.cookies[settings.DEVICE_COOKIE_NAME].value}

    return read_device_cookie(_Request())


def test_landing_without_attribution_goes_to_signup(client):
    response = client.get(reverse("referrals:landing"))
    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:signup")


def test_tampered_attribution_cookie_is_ignored(client):
    code = ReferralCodeFactory()
    client.cookies[COOKIE] = f"{code.code}:1:{int(timezone.now().timestamp())}"
    assert client.get(reverse("referrals:landing"))["Location"] == reverse("accounts:signup")


def test_attribution_expires_after_30_days(client):
    code = ReferralCodeFactory()
    with time_machine.travel(timezone.now() - timedelta(days=30, seconds=5), tick=False):
        client.get(click_url(code.code))
    assert client.get(reverse("referrals:landing"))["Location"] == reverse("accounts:signup")


def test_attribution_is_still_valid_just_inside_30_days(client):
    code = ReferralCodeFactory()
    with time_machine.travel(timezone.now() - timedelta(days=29, hours=23), tick=False):
        client.get(click_url(code.code))
    assert client.get(reverse("referrals:landing")).status_code == 200


def test_landing_promises_only_what_sign_up_gives_when_the_referrer_cannot_earn(client):
    """docs/program-rules.md section 2: a referrer without a verified phone earns nothing, but the friend's package
    is the friend's: the landing page shows it, and sign-up gives it."""
    code = ReferralCodeFactory(user__first_name="Maya", user__phone_verified_at=None)
    client.get(click_url(code.code))
    body = client.get(reverse("referrals:landing")).content.decode()
    assert "$24.00" in body
    client.post(
        reverse("accounts:signup"),
        {
            "first_name": "Fred",
            "last_name": "Friend",
            "email": "fred@example.com",
            "country": "US",
            "password": "A-long-enough-pass-2026",
            "referral_code": "",
        },
    )
    assert sum(c.value for c in Coupon.objects.filter(owner__email="fred@example.com")) == 24
