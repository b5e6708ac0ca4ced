"""One circuit breaker per Redis server, shared by the rate limiters, the cache and Celery publishing.

A Redis that stops answering costs one socket timeout, once: the call that times out opens the breaker,
and for `REDIS_BREAKER_COOLDOWN_SECONDS` every later call fails at once with `CircuitOpen` (no network
at all), so requests keep their normal speed. After the cool-down the breaker is half-open: exactly one
caller tries Redis for real (the probe); its success closes the breaker, its failure opens it for another
cool-down, and every other caller meanwhile is still refused at once. In a web process the probe is the
outbox dispatcher thread's (`probe_all`), never a request's, so a request waits on a hung Redis at most
once per process and outage. What a refusal means is the
caller's choice (docs/deployment.md, "Redis outage"): rate limits answer their `when_unavailable`, the
cache renders without it, publishing leaves the outbox row for the relay.

The state is per process (each web or worker process detects an outage once for itself); servers are
keyed by host and port, so a cache and a broker on the same Redis share one breaker.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import redis
from django.conf import settings
from kombu.exceptions import OperationalError

logger = logging.getLogger(__name__)

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"
# Prometheus reads the state as a number (docs/deployment.md alert rules).
STATE_VALUES = {CLOSED: 0, HALF_OPEN: 1, OPEN: 2}


class CircuitOpen(ConnectionError):
    """Refused without trying: the server did not answer recently (see the breaker's `server`)."""


# What says "the server is not answering" (a command error such as NOSCRIPT says nothing about that).
OUTAGE_ERRORS: tuple[type[BaseException], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    OperationalError,
    OSError,  # ConnectionError, socket.timeout, CircuitOpen
    socket.timeout,
)


_PROBE_ERRORS: tuple[type[BaseException], ...] = (*OUTAGE_ERRORS, redis.exceptions.RedisError)


def is_outage(error: BaseException) -> bool:
    return isinstance(error, OUTAGE_ERRORS) and not isinstance(error, redis.exceptions.ResponseError)


class Breaker:
    """closed → (a failure) → open → (cool-down over) → half-open: one probe → closed or open again."""

    def __init__(
        self, server: str, *, cooldown: float, clock: Callable[[], float] = time.monotonic, url: str = ""
    ) -> None:
        self.server = server
        self.url = url  # for the background probe
        self.cooldown = cooldown
        self._clock = clock
        self._lock = threading.Lock()
        self._opened_at: float | None = None
        self._probing = False
        self.opened_total = 0

    @property
    def state(self) -> str:
        with self._lock:
            return self._state()

    def _state(self) -> str:
        if self._opened_at is None:
            return CLOSED
        if self._clock() - self._opened_at < self.cooldown:
            return OPEN
        return HALF_OPEN

    def allow(self) -> bool:
        """True when the caller may use the server now (in half-open: only the one probe, and only from the
        background prober thread when this process has one, so a probe never costs a request its timeout)."""
        with self._lock:
            state = self._state()
            if state == CLOSED:
                return True
            if state == HALF_OPEN and not self._probing and may_probe():
                self._probing = True
                return True
            return False

    def succeeded(self) -> None:
        with self._lock:
            if self._opened_at is not None:
                logger.warning("redis %s answers again: breaker closed", self.server)
            self._opened_at = None
            self._probing = False

    def failed(self) -> None:
        with self._lock:
            if self._opened_at is None:
                self.opened_total += 1
                logger.warning("redis %s does not answer: breaker open, skipped for %ss", self.server, self.cooldown)
            self._opened_at = self._clock()
            self._probing = False

    @contextmanager
    def guard(self) -> Iterator[None]:
        """Run the block against the server, or raise CircuitOpen at once while it is known not to answer."""
        if not self.allow():
            raise CircuitOpen(f"redis {self.server}: circuit open")
        try:
            yield
        except BaseException as error:
            if is_outage(error):
                self.failed()
            else:
                self.succeeded()  # it answered (an error reply is an answer)
            raise
        self.succeeded()

    def reset(self) -> None:
        with self._lock:
            self._opened_at = None
            self._probing = False


_breakers: dict[str, Breaker] = {}
_registry_lock = threading.Lock()
_prober: int | None = None  # the thread id of this process's background prober (ops.dispatcher), if any


def set_prober_thread(ident: int | None) -> None:
    """From now on only thread `ident` probes a half-open breaker (None: whoever calls first)."""
    global _prober
    _prober = ident


def may_probe() -> bool:
    return _prober is None or _prober == threading.get_ident()


def probe_all() -> None:
    """Ping every half-open server once (the prober thread's job): a success closes its breaker."""
    for item in all_breakers():
        if item.state != HALF_OPEN or not item.url:
            continue
        try:
            with item.guard():
                client = redis.Redis.from_url(item.url, socket_timeout=1, socket_connect_timeout=1)
                try:
                    client.ping()
                finally:
                    client.close()
        except _PROBE_ERRORS:
            logger.info("redis %s still does not answer", item.server)


def server_of(url: str) -> str:
    """`host:port` (or the socket path) of a Redis URL: the key of its breaker."""
    parts = urlsplit(url)
    if parts.scheme == "unix" or not parts.hostname:
        return parts.path or url
    return f"{parts.hostname}:{parts.port or 6379}"


def breaker_for(url: str) -> Breaker:
    """This process's breaker for the Redis server of `url` (one per server)."""
    server = server_of(url)
    with _registry_lock:
        breaker = _breakers.get(server)
        if breaker is None:
            breaker = _breakers[server] = Breaker(server, cooldown=settings.REDIS_BREAKER_COOLDOWN_SECONDS, url=url)
        return breaker


def all_breakers() -> list[Breaker]:
    with _registry_lock:
        return list(_breakers.values())


def reset_all() -> None:
    """Forget every breaker and the prober (tests, and a process that just forked)."""
    global _prober
    with _registry_lock:
        _breakers.clear()
        _prober = None
