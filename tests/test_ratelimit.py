import pytest
from django.test import override_settings

from referral_portal.ratelimit import allow

UNREACHABLE_REDIS = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",
        "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
    }
}


def test_the_window_allows_exactly_the_limit():
    assert [allow(key="t:window", limit=3, window_seconds=60, when_unavailable=False) for _ in range(5)] == [
        True,
        True,
        True,
        False,
        False,
    ]


@override_settings(CACHES=UNREACHABLE_REDIS)
@pytest.mark.parametrize("when_unavailable", [True, False])
def test_an_unreachable_cache_answers_the_callers_choice_instead_of_raising(when_unavailable):
    assert allow(key="t:down", limit=3, window_seconds=60, when_unavailable=when_unavailable) is when_unavailable


@pytest.mark.django_db
@override_settings(CACHES=UNREACHABLE_REDIS)
def test_a_link_click_still_redirects_when_the_cache_is_down(client):
    from tests.factories import ReferralCodeFactory

    code = ReferralCodeFactory()
    response = client.get(f"/r/{code.code}?ch=email", REMOTE_ADDR="8.8.8.8")
    assert response.status_code == 302
    assert response.url.endswith("/join/")
