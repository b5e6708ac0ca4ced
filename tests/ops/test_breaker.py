"""lib/breaker.py: a Redis that stops answering is detected once and skipped, then probed, then used again."""

from __future__ import annotations

import time

import pytest
import redis
from django.core.cache import caches
from django.test import override_settings

from lib import breaker
from lib.breaker import CLOSED, HALF_OPEN, OPEN, Breaker, CircuitOpen
from lib.ratelimit import allow


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _fail(b: Breaker) -> None:
    with pytest.raises(redis.exceptions.TimeoutError), b.guard():
        raise redis.exceptions.TimeoutError("Timeout reading from socket")


def test_a_timeout_opens_the_breaker_and_later_calls_are_refused_without_trying():
    clock = Clock()
    b = Breaker("redis:6379", cooldown=10, clock=clock)
    assert b.state == CLOSED
    _fail(b)
    assert b.state == OPEN
    tried = []
    with pytest.raises(CircuitOpen), b.guard():
        tried.append(1)
    assert tried == []  # refused before the block ran: no network at all
    assert b.opened_total == 1


def test_after_the_cool_down_one_probe_goes_through_and_its_success_closes_the_breaker():
    clock = Clock()
    b = Breaker("redis:6379", cooldown=10, clock=clock)
    _fail(b)
    clock.now += 10
    assert b.state == HALF_OPEN
    assert b.allow() is True  # the probe
    assert b.allow() is False  # everyone else while the probe runs
    b.succeeded()
    assert b.state == CLOSED
    with b.guard():
        pass
    assert b.state == CLOSED


def test_a_failed_probe_opens_the_breaker_for_another_cool_down():
    clock = Clock()
    b = Breaker("redis:6379", cooldown=10, clock=clock)
    _fail(b)
    clock.now += 11
    _fail(b)  # the probe times out too
    assert b.state == OPEN
    clock.now += 9
    assert b.state == OPEN
    clock.now += 1
    assert b.state == HALF_OPEN
    assert b.opened_total == 1  # one outage, one opening


def test_an_error_reply_is_an_answer_and_keeps_the_breaker_closed():
    b = Breaker("redis:6379", cooldown=10, clock=Clock())
    with pytest.raises(redis.exceptions.ResponseError), b.guard():
        raise redis.exceptions.ResponseError("NOSCRIPT")
    assert b.state == CLOSED


def test_one_breaker_per_server_whatever_the_database_number():
    assert breaker.breaker_for("redis://10.0.0.5:6380/1") is breaker.breaker_for("redis://10.0.0.5:6380/3")
    assert breaker.breaker_for("redis://10.0.0.5:6380/1") is not breaker.breaker_for("redis://10.0.0.6:6380/1")
    assert breaker.server_of("redis://cache.internal/0") == "cache.internal:6379"


def _cache_on(url: str) -> dict:
    return {
        "default": {
            "BACKEND": "lib.cache.ReusedClientRedisCache",
            "LOCATION": url,
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }


def _hits_counted(url: str, key: str) -> int:
    """What Redis itself holds for the limiter's key, read with a client of our own."""
    client = redis.Redis.from_url(url)
    try:
        return sum(int(client.get(k)) for k in client.scan_iter(match=f"*rl:{key}:*"))
    finally:
        client.close()


@pytest.mark.django_db
def test_a_frozen_redis_costs_the_rate_limiter_one_timeout_then_nothing(redis_process, settings):
    settings.REDIS_BREAKER_COOLDOWN_SECONDS = 2
    window = 3600
    if window - time.time() % window < 15:  # the test must not straddle two windows
        time.sleep(window - time.time() % window + 0.1)
    with override_settings(CACHES=_cache_on(redis_process.url(0))):
        caches["default"].clear()
        assert allow(key="t:frozen", limit=5, window_seconds=window, when_unavailable=False) is True
        redis_process.freeze()
        try:
            started = time.monotonic()
            assert allow(key="t:frozen", limit=5, window_seconds=window, when_unavailable=True) is True
            first = time.monotonic() - started
            assert 0.4 < first < 1.5  # detected once: one socket timeout
            started = time.monotonic()
            answers = [
                allow(key="t:frozen", limit=5, window_seconds=window, when_unavailable=False) for _ in range(100)
            ]
            assert answers == [False] * 100  # the caller's choice for an unavailable cache…
            assert time.monotonic() - started < 0.1  # …at once, without touching the socket
            assert breaker.breaker_for(redis_process.url()).state == OPEN
        finally:
            redis_process.thaw()
        time.sleep(2.05)  # cool-down over: the next call is the probe, and Redis answers again
        assert allow(key="t:frozen", limit=5, window_seconds=window, when_unavailable=False) is True
        assert breaker.breaker_for(redis_process.url()).state == CLOSED
        # The counter went on where it was: the 100 refused hits never reached Redis. The hit that timed out
        # was written to the socket before the client gave up; whether the thawed Redis still ran it depends
        # on whether it read the command before it saw the closed connection, so it counts 2 or 3 hits.
        counted = _hits_counted(redis_process.url(0), "t:frozen")
        assert counted in (2, 3)
        left = 5 - counted
        answers = [allow(key="t:frozen", limit=5, window_seconds=window, when_unavailable=False) for _ in range(4)]
        assert answers == [True] * left + [False] * (4 - left)


@pytest.mark.django_db
def test_a_killed_redis_is_skipped_too_and_the_cache_works_when_it_is_back(redis_process, settings):
    settings.REDIS_BREAKER_COOLDOWN_SECONDS = 0.5
    with override_settings(CACHES=_cache_on(redis_process.url(0))):
        cache = caches["default"]
        cache.set("k", "v")
        port = redis_process.port
        redis_process.stop()
        with pytest.raises(redis.exceptions.ConnectionError):
            cache.get("k")
        with pytest.raises(CircuitOpen):
            cache.get("k")
        redis_process.port = port
        redis_process.start()
        time.sleep(0.55)
        cache.set("k", "back")
        assert cache.get("k") == "back"
