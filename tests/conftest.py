"""Suite-wide fixtures and the service policy.

PostgreSQL is used when DATABASE_URL points at it, Redis when REDIS_URL is set.
With REQUIRE_SERVICES=1 (CI) a missing service fails the run instead of
skipping the tests that need it.
"""

from __future__ import annotations

import os
from importlib import import_module
from types import SimpleNamespace

import pytest
import redis
from django.apps import apps
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.utils import translation

from accounts.models import User
from tests.factories import UserFactory

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"
REDIS_URL = os.environ.get("REDIS_URL", "")


def _redis_reachable(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2).ping())
    except Exception:  # noqa: BLE001
        return False


def _instrument_jinja2() -> None:
    """The test client's `response.context` and `assertTemplateUsed` for Jinja2 templates too: Django's test setup
    instruments its own engine only (the `template_rendered` signal); the member pages' content is Jinja2."""
    from django.template import Context
    from django.template.backends import jinja2 as backend
    from django.test.signals import template_rendered

    render = backend.Template.render
    if getattr(render, "instrumented", False):
        return

    def instrumented(self, context=None, request=None):
        template = SimpleNamespace(name=self.origin.template_name, origin=self.origin)
        template_rendered.send(sender=self, template=template, context=Context(dict(context or {})))
        return render(self, context, request)

    instrumented.instrumented = True
    backend.Template.render = instrumented


def pytest_configure(config: pytest.Config) -> None:
    _instrument_jinja2()
    config.addinivalue_line(
        "markers", "member(signed_in=True, **fields): how the `member` fixture's member looks (UserFactory fields)"
    )
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
    import_module("accounts.migrations.0004_default_levels").create_levels(apps, None)


@pytest.fixture(autouse=True)
def _click_rollup_watermark(request: pytest.FixtureRequest) -> None:
    """Transactional tests truncate every table: put the click roll-up's watermark row back, as its migration
    (referrals/migrations/*_click_rollup.py) creates it."""
    if not request.node.get_closest_marker("django_db") and not {"db", "transactional_db"} & set(request.fixturenames):
        return
    request.getfixturevalue("transactional_db" if _is_transactional(request) else "db")
    from referrals.models import CLICKS_NOT_ROLLED_UP, ClickRollup

    ClickRollup.objects.get_or_create(pk=1, defaults={"counted_before": CLICKS_NOT_ROLLED_UP})


@pytest.fixture(autouse=True)
def _fresh_language():
    """A test that activates a language (a member's, a German page) must not leak it into the next test."""
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Rate-limit counters, cached pages and lookups live in the cache: every test starts and leaves it empty."""
    cache.clear()
    yield
    cache.clear()


# --- Shared people -------------------------------------------------------------------------------------------


@pytest.fixture
def member(request: pytest.FixtureRequest) -> User:
    """Maya Member, a member in good standing, signed in on `client`.

    A module or test says how its member differs with `@pytest.mark.member(**fields)`: UserFactory fields, and
    `signed_in=False` for a member who is not signed in (services, webhooks, a login form under test).
    """
    marker = request.node.get_closest_marker("member")
    fields = {"first_name": "Maya", "last_name": "Member", **(marker.kwargs if marker else {})}
    signed_in = fields.pop("signed_in", True)
    user = UserFactory(**fields)
    if signed_in:
        request.getfixturevalue("client").force_login(user)
    return user


@pytest.fixture
def staff_client(client: Client) -> Client:
    """`client` signed in as a superuser staff member, who is `staff_client.staff`."""
    staff = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(staff)
    client.staff = staff
    return client


@pytest.fixture(autouse=True)
def _fresh_breakers():
    """Circuit breakers are per process: a Redis one test froze must not be skipped in the next."""
    from lib import breaker

    breaker.reset_all()
    yield
    breaker.reset_all()


@pytest.fixture
def redis_process(tmp_path):
    """A redis-server started for this test only (tests/redis_process.py): freeze, thaw or kill it at will."""
    import shutil

    from tests.redis_process import RedisProcess

    if shutil.which("redis-server") is None:
        _unavailable("needs redis-server on PATH")
    server = RedisProcess(tmp_path).start()
    try:
        yield server
    finally:
        server.stop()
