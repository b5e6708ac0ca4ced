"""Suite-wide fixtures and the service policy.

PostgreSQL is used when DATABASE_URL points at it, Redis when REDIS_URL is set.
With REQUIRE_SERVICES=1 (CI) a missing service fails the run instead of
skipping the tests that need it.
"""

from __future__ import annotations

import os

import pytest
from django.db import connection

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"
REDIS_URL = os.environ.get("REDIS_URL", "")


def _redis_reachable(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2).ping())
    except Exception:  # noqa: BLE001
        return False


def pytest_configure(config: pytest.Config) -> None:
    if not REQUIRE_SERVICES:
        return
    problems = []
    if not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://", "pgsql://")):
        problems.append("DATABASE_URL must point at PostgreSQL")
    if not REDIS_URL:
        problems.append("REDIS_URL is not set")
    elif not _redis_reachable(REDIS_URL):
        problems.append(f"Redis at {REDIS_URL} does not answer")
    if problems:
        pytest.exit("REQUIRE_SERVICES=1 but " + "; ".join(problems), returncode=3)


def _unavailable(reason: str) -> None:
    if REQUIRE_SERVICES:
        pytest.fail(f"required service missing: {reason}")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _service_markers(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("postgres") and connection.vendor != "postgresql":
        _unavailable("needs PostgreSQL (set DATABASE_URL)")
    if request.node.get_closest_marker("redis") and not (REDIS_URL and _redis_reachable(REDIS_URL)):
        _unavailable("needs Redis (set REDIS_URL)")


@pytest.fixture
def redis_url() -> str:
    if not (REDIS_URL and _redis_reachable(REDIS_URL)):
        _unavailable("needs Redis (set REDIS_URL)")
    return REDIS_URL


@pytest.fixture(autouse=True)
def _default_regions(request: pytest.FixtureRequest) -> None:
    """Transactional tests truncate every table, data migrations included: put the regions back."""
    if not request.node.get_closest_marker("django_db") and not {"db", "transactional_db"} & set(request.fixturenames):
        return
    request.getfixturevalue("transactional_db" if _is_transactional(request) else "db")
    from importlib import import_module

    from django.apps import apps

    import_module("accounts.migrations.0002_default_regions").create_regions(apps, None)


def _is_transactional(request: pytest.FixtureRequest) -> bool:
    marker = request.node.get_closest_marker("django_db")
    return "transactional_db" in request.fixturenames or bool(marker and marker.kwargs.get("transaction"))


@pytest.fixture(autouse=True)
def _default_levels(request: pytest.FixtureRequest, _default_regions) -> None:
    """Transactional tests truncate every table: put the default member levels back (migration 0004)."""
    if not request.node.get_closest_marker("django_db") and not {"db", "transactional_db"} & set(request.fixturenames):
        return
    request.getfixturevalue("transactional_db" if _is_transactional(request) else "db")
    from importlib import import_module

    from django.apps import apps

    import_module("accounts.migrations.0004_default_levels").create_levels(apps, None)


@pytest.fixture(autouse=True)
def _fresh_language():
    """A test that activates a language (a member's, a German page) must not leak it into the next test."""
    from django.utils import translation

    yield
    translation.deactivate()
