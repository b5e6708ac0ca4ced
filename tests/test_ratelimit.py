import pytest
from django.test import override_settings

from lib.ratelimit import allow

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


@pytest.fixture
def redis_cache(redis_url, settings):
    """The default cache on the real Redis (the project's backend, as in production)."""
    from django.core.cache import caches

    settings.CACHES = {
        **settings.CACHES,
        "default": {"BACKEND": "lib.cache.ReusedClientRedisCache", "LOCATION": redis_url},
    }
    backend = caches["default"]
    client = backend._cache.get_client(write=True)
    stale = list(client.scan_iter("*rl:t:*"))
    if stale:
        client.delete(*stale)
    yield backend
    # Only this module's counters: other tests (a Celery worker) may share the Redis database.
    leftovers = list(client.scan_iter("*rl:t:*"))
    if leftovers:
        client.delete(*leftovers)


@pytest.mark.redis
def test_on_redis_twelve_threads_share_five_slots_and_the_counter_expires(redis_cache):
    from tests.concurrency import race

    results = race(12, lambda i: allow(key="t:redis", limit=5, window_seconds=60, when_unavailable=False))
    assert sorted(results) == [False] * 7 + [True] * 5
    [key] = list(redis_cache._cache.get_client().scan_iter("*rl:t:redis:*"))
    # Created with its expiry in the same atomic step: never a counter that lives for ever.
    assert 60 < redis_cache._cache.get_client().ttl(key) <= 90
    assert int(redis_cache._cache.get_client().get(key)) == 12


@pytest.mark.redis
def test_on_redis_a_hit_is_one_round_trip_and_survives_a_script_flush(redis_cache, monkeypatch):
    client = redis_cache._cache.get_client(write=True)
    assert allow(key="t:trip", limit=3, window_seconds=60, when_unavailable=False)
    client.script_flush()  # e.g. Redis restarted: the script is sent again, once
    assert allow(key="t:trip", limit=3, window_seconds=60, when_unavailable=False)
    sent = []
    original = client.execute_command
    monkeypatch.setattr(client, "execute_command", lambda *a, **k: sent.append(a[0]) or original(*a, **k))
    assert allow(key="t:trip", limit=3, window_seconds=60, when_unavailable=False)
    assert not allow(key="t:trip", limit=3, window_seconds=60, when_unavailable=False)
    assert sent == ["EVALSHA", "EVALSHA"]
