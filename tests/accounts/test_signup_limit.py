"""Sign-up rate limit per client IP (docs/program-rules.md G5; docs/program-rules.md section 1: no code enumeration)."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import User
from accounts.services import SIGNUP_RATE_LIMITED_MESSAGE
from referrals.models import Referral
from tests.factories import ReferralCodeFactory
from tests.test_ratelimit import UNREACHABLE_REDIS

pytestmark = pytest.mark.django_db

IP = "81.2.69.142"
OTHER_IP = "8.8.8.8"


def data(**overrides):
    return {
        "first_name": "Nora",
        "last_name": "New",
        "email": "nora@example.com",
        "country": "GB",
        "password": "a-long-pass-phrase-2026",
        **overrides,
    }


def post(client, ip=IP, **overrides):
    return client.post(reverse("accounts:signup"), data(**overrides), REMOTE_ADDR=ip)


def use_up(client, n, ip=IP):
    """`n` refused-by-the-form attempts (an unknown code): each one still counts."""
    for i in range(n):
        response = post(client, ip=ip, email=f"probe{i}@example.com", referral_code=f"ZZZZZZ{i:03d}")
        assert response.status_code == 200
        assert response.context["form"].errors["referral_code"] == ["We don't recognise this invitation code."]


def new_client() -> Client:
    """Another browser (own cookies) on the same network."""
    return Client()


def assert_refused(response):
    assert response.status_code == 429
    assert response["Retry-After"] == "3600"
    form = response.context["form"]
    # Only the limit is said: no field was validated, so nothing about the code or the e-mail leaks.
    assert form.errors == {"__all__": [SIGNUP_RATE_LIMITED_MESSAGE]}
    assert str(SIGNUP_RATE_LIMITED_MESSAGE) in response.content.decode()


def test_by_default_the_eleventh_attempt_in_an_hour_is_refused_and_creates_nothing(client, settings):
    assert settings.SIGNUP_RATE_LIMIT == 10
    use_up(client, 10)
    response = post(client)
    assert_refused(response)
    assert "try again" in str(SIGNUP_RATE_LIMITED_MESSAGE)
    assert not User.objects.exists()


def test_over_the_limit_a_valid_code_and_an_unknown_code_get_the_same_answer(client, settings):
    settings.SIGNUP_RATE_LIMIT = 2
    code = ReferralCodeFactory(user__first_name="Maya")
    use_up(client, 2)
    valid = post(client, referral_code=code.code)
    unknown = post(client, referral_code="ZZZZZZZZZ")
    for response in (valid, unknown):
        assert_refused(response)
        assert "Maya" not in response.content.decode()  # the inviter banner would confirm the code
    assert not User.objects.filter(email="nora@example.com").exists()
    assert not Referral.objects.exists()


def test_valid_sign_ups_count_too(client, settings):
    settings.SIGNUP_RATE_LIMIT = 2
    for n in range(2):
        other = new_client()
        assert post(other, email=f"member{n}@example.com").status_code == 302
    assert_refused(post(new_client(), email="third@example.com"))
    assert User.objects.count() == 2


def test_other_ips_are_not_affected(client, settings):
    settings.SIGNUP_RATE_LIMIT = 2
    use_up(client, 2)
    assert_refused(post(client))
    response = post(new_client(), ip=OTHER_IP)
    assert response.status_code == 302
    assert User.objects.filter(email="nora@example.com").exists()


def test_behind_the_proxy_forged_forwarded_entries_do_not_escape_the_limit(client, settings):
    settings.BEHIND_PROXY = True
    settings.SIGNUP_RATE_LIMIT = 2
    for forged in ("1.1.1.1", "9.9.9.9", "4.4.4.4"):
        response = client.post(
            reverse("accounts:signup"),
            data(email="nora@example.com", referral_code="ZZZZZZZZZ"),
            REMOTE_ADDR="10.0.0.1",
            HTTP_X_FORWARDED_FOR=f"{forged}, {IP}",
        )
    assert_refused(response)


def test_page_views_are_not_counted(client, settings):
    settings.SIGNUP_RATE_LIMIT = 2
    for _ in range(5):
        assert client.get(reverse("accounts:signup"), REMOTE_ADDR=IP).status_code == 200
    assert post(client).status_code == 302


def test_zero_turns_the_limit_off(client, settings):
    settings.SIGNUP_RATE_LIMIT = 0
    use_up(client, 11)
    assert post(client).status_code == 302


def test_with_the_cache_down_sign_ups_still_go_through(client, settings):
    # Only the `settings` fixture here: mixed with override_settings, its teardown would restore the wrong cache.
    settings.CACHES = UNREACHABLE_REDIS
    settings.SIGNUP_RATE_LIMIT = 1
    assert post(client, email="first@example.com").status_code == 302
    assert post(new_client(), email="second@example.com").status_code == 302
    assert User.objects.count() == 2


@pytest.fixture
def redis_signup_cache(redis_url, settings):
    """The default cache on the real Redis, as in production; only this module's counters are removed."""
    from django.core.cache import caches

    settings.CACHES = {
        **settings.CACHES,
        "default": {"BACKEND": "lib.cache.ReusedClientRedisCache", "LOCATION": redis_url},
    }
    client = caches["default"]._cache.get_client(write=True)

    def clean():
        stale = list(client.scan_iter("*rl:signup:*"))
        if stale:
            client.delete(*stale)

    clean()
    yield client
    clean()


@pytest.mark.redis
def test_on_redis_the_counter_is_shared_keyed_by_ip_hash_and_expires(client, settings, redis_signup_cache):
    settings.SIGNUP_RATE_LIMIT = 2
    use_up(client, 2)
    assert_refused(post(new_client()))
    [key] = [k.decode() for k in redis_signup_cache.scan_iter("*rl:signup:*")]
    assert IP not in key  # the raw IP never reaches the cache
    assert int(redis_signup_cache.get(key)) == 3
    assert 3600 < redis_signup_cache.ttl(key) <= 3630
