"""Staff users per role, for the admin tests (roles come from support/migrations/0002_staff_roles.py)."""

from __future__ import annotations

from importlib import import_module

import pytest
from django.apps import apps
from django.contrib.auth.models import Group

from tests.factories import UserFactory

ROLES = ["Support agent", "Fraud analyst", "Program manager"]


@pytest.fixture
def staff_roles(db) -> None:
    # Transactional tests truncate the groups the migration made: make them again (idempotent).
    import_module("support.migrations.0002_staff_roles").create_staff_roles(apps)
    import_module("outbound.migrations.0002_program_manager_permissions").grant(apps, None)
    import_module("support.migrations.0003_what_if_roles").grant(apps, None)
    # The powers later migrations added (0002 resets each group to its own list).
    import_module("support.migrations.0005_staff_roles_refunds_manual_coupons").add_powers(apps, None)
    import_module("support.migrations.0007_program_manager_retries_parked_tasks").add_powers(apps, None)


@pytest.fixture
def make_staff(staff_roles):
    def make(role: str | None, **extra):
        user = UserFactory(is_staff=True, **extra)
        if role:
            user.groups.add(Group.objects.get(name=role))
        return user

    return make


@pytest.fixture
def role_client(client, make_staff):
    def login(role: str | None, **extra):
        user = make_staff(role, **extra)
        client.force_login(user)
        client.user = user
        return client

    return login
