"""Staff roles: least privilege per role, and every admin page answers 200 or 403 as the role allows."""

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.test import RequestFactory
from django.urls import reverse

from accounts.models import Region
from support.models import AuditLog
from tests.support.builders import build_world
from tests.support.conftest import ROLES

pytestmark = pytest.mark.django_db


def test_the_migration_creates_the_three_roles_with_their_permissions(staff_roles):
    perms = {
        group.name: {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.all()}
        for group in Group.objects.prefetch_related("permissions__content_type").filter(name__in=ROLES)
    }
    assert set(perms) == set(ROLES)
    assert "referrals.review_referral" in perms["Fraud analyst"]
    assert "referrals.credit_referral_manually" in perms["Program manager"]
    assert "accounts.change_region" in perms["Program manager"]
    assert {"support.view_supportrequest", "support.change_supportrequest", "accounts.resend_notice"} <= perms[
        "Support agent"
    ]
    # Least privilege: nobody but a superuser may delete, edit members or touch money in place.
    for granted in perms.values():
        assert not any(p.split(".")[1].startswith("delete_") for p in granted)
        assert "accounts.change_user" not in granted
        assert "coupons.change_coupon" not in granted
        assert "coupons.change_ledgerentry" not in granted
    assert "referrals.credit_referral_manually" not in perms["Support agent"] | perms["Fraud analyst"]
    assert "referrals.review_referral" not in perms["Support agent"] | perms["Program manager"]
    assert "accounts.change_region" not in perms["Support agent"] | perms["Fraud analyst"]


def test_the_roles_migration_runs_again_without_duplicates(staff_roles):
    from importlib import import_module

    from django.apps import apps

    import_module("support.migrations.0002_staff_roles").create_staff_roles(apps)
    assert Group.objects.filter(name__in=ROLES).count() == 3


def _actions(role_client, role, model):
    client = role_client(role)
    request = RequestFactory().get("/")
    request.user = client.user
    return set(admin.site._registry[model].get_actions(request))


def test_a_support_agent_cannot_credit_manually_or_review(role_client):
    from referrals.models import Referral

    actions = _actions(role_client, "Support agent", Referral)
    assert "credit_manually" not in actions
    assert not {"approve_reviews", "reject_reviews", "void_reward_coupon"} & actions


def test_a_support_agent_posting_the_credit_action_changes_nothing(role_client):
    from tests.support.builders import referral_with_timeline

    referral = referral_with_timeline(state="capped", reason_code="MONTHLY_LIMIT")
    client = role_client("Support agent")
    response = client.post(
        reverse("admin:referrals_referral_changelist"),
        {"action": "credit_manually", "_selected_action": [referral.pk], "confirm": "yes", "reason": "please credit"},
    )
    assert response.status_code in (200, 302)
    referral.refresh_from_db()
    assert referral.state == "capped"
    assert not AuditLog.objects.exists()


def test_a_fraud_analyst_can_approve_and_reject_reviews_but_not_credit(role_client):
    from referrals.models import Referral

    actions = _actions(role_client, "Fraud analyst", Referral)
    assert {"approve_reviews", "reject_reviews", "rerun_eligibility", "void_reward_coupon"} <= actions
    assert "credit_manually" not in actions


def test_a_program_manager_can_credit_manually_but_not_review(role_client):
    from referrals.models import Referral

    actions = _actions(role_client, "Program manager", Referral)
    assert "credit_manually" in actions
    assert "approve_reviews" not in actions


def _region_post(region):
    return {
        "country": region.country,
        "name": "United States",
        "is_in_program": "on",
        "currency": "USD",
        "reward_amount": "6.00",
        "reward_min_spend": "20.00",
        "monthly_limit": 10,
        "coupon_valid_days": 30,
        "welcome_package": "[]",
        "time_zone": "UTC",
        "locale": "en_US",
    }


def test_a_program_manager_can_edit_regions(role_client):
    region = Region.objects.get(country="US")
    client = role_client("Program manager")
    response = client.post(reverse("admin:accounts_region_change", args=[region.pk]), _region_post(region))
    assert response.status_code == 302, response.content.decode()[:2000]
    region.refresh_from_db()
    assert str(region.reward_amount) == "6.00"


@pytest.mark.parametrize("role", ["Support agent", "Fraud analyst"])
def test_other_roles_cannot_edit_regions(role_client, role):
    region = Region.objects.get(country="US")
    client = role_client(role)
    response = client.post(reverse("admin:accounts_region_change", args=[region.pk]), _region_post(region))
    assert response.status_code == 403
    region.refresh_from_db()
    assert str(region.reward_amount) == "5.00"


# Pages each role must (True) or must not (False) reach: the least-privilege promise in one table.
EXPECTED = {
    "Support agent": {
        "referrals_referral": True,
        "referrals_referralreview": False,
        "accounts_user": True,
        "accounts_region": False,
        "accounts_device": False,
        "referrals_click": False,
        "support_auditlog": False,
        "coupons_coupon": True,
        "orders_order": True,
    },
    "Fraud analyst": {
        "referrals_referralreview": True,
        "accounts_device": True,
        "accounts_ipsighting": True,
        "orders_paymentcard": True,
        "referrals_click": True,
        "support_auditlog": True,
        "accounts_region": False,
    },
    "Program manager": {
        "accounts_region": True,
        "coupons_campaign": True,
        "support_auditlog": True,
        "referrals_referralreview": False,
        "accounts_device": False,
    },
    None: {"referrals_referral": False, "accounts_user": False, "support_auditlog": False},
}


@pytest.mark.parametrize("role", [*ROLES, None])
def test_every_admin_page_answers_200_or_403_as_the_role_allows(role_client, role):
    client = role_client(role)
    build_world(client.user)
    request = RequestFactory().get("/")
    request.user = client.user
    seen = {}
    for model, model_admin in admin.site._registry.items():
        opts = model._meta
        name = f"{opts.app_label}_{opts.model_name}"
        allowed = model_admin.has_view_or_change_permission(request)
        changelist = client.get(reverse(f"admin:{name}_changelist"))
        assert changelist.status_code == (200 if allowed else 403), name
        seen[name] = allowed
        obj = model_admin.get_queryset(request).first()
        if obj is not None:
            change = client.get(reverse(f"admin:{name}_change", args=[obj.pk]))
            assert change.status_code == (200 if allowed else 403), f"{name} change form"
    for name, allowed in EXPECTED[role].items():
        if name in seen:
            assert seen[name] is allowed, f"{role}: {name}"
    index = client.get(reverse("admin:index"))
    assert index.status_code == 200
    dashboard = client.get(reverse("staff_dashboard"))
    assert dashboard.status_code == (200 if role else 403)
    if role:
        assert "Staff dashboard" in index.content.decode()


def test_a_superuser_sees_every_page(client):
    from tests.factories import UserFactory

    user = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(user)
    build_world(user)
    for model in admin.site._registry:
        opts = model._meta
        assert client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")).status_code == 200
    assert client.get(reverse("staff_dashboard")).status_code == 200


@pytest.mark.parametrize(
    ("role", "allowed"), [("Program manager", True), ("Support agent", False), ("Fraud analyst", False)]
)
def test_retrying_a_parked_task_belongs_to_the_program_manager(role_client, role, allowed):
    """Issue 19: a parked task is seen and retried by hand by a program manager (audited), by no other role."""
    from ops.models import TaskDelivery

    client = role_client(role)
    assert ("retry_parked_tasks" in _actions(role_client, role, TaskDelivery)) is allowed
    page = client.get(reverse("admin:ops_taskdelivery_changelist"))
    assert page.status_code == (200 if allowed else 403)
