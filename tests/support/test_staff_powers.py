"""Staff powers (issue 16; README "Staff roles" and "Security"): every admin action and custom staff page that
changes state declares its permission and goes through the audited path (support.admin.staff_actions).

The walk tests below read the admin site as it is registered, so an action or page added later is judged too:
- an action: `@admin.action(permissions=[...])` with its `has_<name>_permission`, and its body
  `run_staff_action(...)` (reason form first, then one audit row per object in the object's transaction);
- a custom page (`ModelAdmin.get_urls` or an `admin/...` URL): `@staff_view(permission=..., changes_state=...)`,
  and, when it changes state, `perform_and_audit` plus a test named in AUDITED_PAGE_TESTS proving its audit row.
"""

from __future__ import annotations

import importlib
import inspect
import re

import factory
import pytest
from django import forms
from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.messages import get_messages
from django.test import RequestFactory
from django.urls import URLPattern, URLResolver, get_resolver, reverse

import tests.factories as factories
from coupons.models import Coupon
from orders.models import OrderState
from referrals.reasons import ReferralState
from referrals.services.crediting import CreditError, credit_manually
from support.models import AuditLog
from tests.factories import ReferralFactory, UserFactory, completed_order

pytestmark = pytest.mark.django_db

# Admin URLs that are not staff actions, and why.
EXEMPT_PAGES = {
    "staff_second_factor": "the sign-in step itself (before any permission); audited as 'second factor …'",
    "staff_second_factor_enrol": "the one-time set-up link of the sign-in step; audited as 'second factor link used'",
    "auth_user_password_change": "Django's password form: needs accounts.change_user, which no staff role holds",
    "otp_totp_totpdevice_config": "django-otp; OTP_ADMIN_HIDE_SENSITIVE_DATA makes it 403 (test_second_factor.py)",
    "otp_totp_totpdevice_qrcode": "django-otp; OTP_ADMIN_HIDE_SENSITIVE_DATA makes it 403 (test_second_factor.py)",
}
# Custom pages that change state → the test that proves their audit row ("module::test", or a test of this module).
AUDITED_PAGE_TESTS = {
    "accounts_user_void_coupon": "test_the_void_coupon_page_is_audited",
    "coupons_coupon_issue": "test_a_manual_coupon_within_the_bounds_is_issued_and_audited",
    "accounts_user_act": "tests.support.test_member_page::test_flagging_from_the_member_page_is_audited",
    "referrals_referralreview_decide": (
        "tests.support.test_review_page::test_approve_from_the_page_is_audited_and_returns_to_the_queue"
    ),
    "referrals_referral_decide": "test_deciding_from_a_referrals_own_page_is_audited",
}


def named_test(reference: str):
    module, _sep, name = reference.rpartition("::")
    return getattr(importlib.import_module(module), name, None) if module else globals().get(name)


# Rows a proxy admin lists only in some state (the review queue: referrals under review).
WALK_ROWS = {"referrals.referralreview": {"state": "under_review", "reason_code": "SHARED_IP_AND_AGENT"}}
STANDARD_ADMIN_URLS = ("_changelist", "_add", "_history", "_delete", "_change", "_autocomplete")


def registered_actions():
    for model, model_admin in admin.site._registry.items():
        for func, name, _description in model_admin._get_base_actions():
            yield pytest.param(model, model_admin, name, func, id=f"{model._meta.label_lower}:{name}")


def custom_admin_pages():
    """(url name, callback, kwargs names) of every admin page beyond Django's standard model pages."""
    pages = {}
    for model_admin in admin.site._registry.values():
        for pattern in model_admin.get_urls():
            if isinstance(pattern, URLPattern) and pattern.name and not pattern.name.endswith(STANDARD_ADMIN_URLS):
                pages[pattern.name] = pattern
    for pattern in get_resolver().url_patterns:
        if isinstance(pattern, URLPattern) and str(pattern.pattern).startswith("admin/") and pattern.name:
            pages[pattern.name] = pattern
        assert not (
            isinstance(pattern, URLResolver) and "admin/" in str(pattern.pattern) and pattern.app_name != "admin"
        )
    return [pytest.param(name, pattern, id=name) for name, pattern in sorted(pages.items())]


def factory_for(model):
    concrete = model._meta.concrete_model
    for value in vars(factories).values():
        if inspect.isclass(value) and issubclass(value, factory.Factory) and value._meta.model is concrete:
            return value
    pytest.fail(f"add a factory for {concrete._meta.label} to tests/factories.py: the walk needs one row of it")


def fill(form: forms.Form) -> dict:
    """Valid-looking answers for every field of an action's form, as staff would type them."""
    data = {}
    for name, field in form.fields.items():
        if isinstance(field, forms.ChoiceField):
            data[name] = next(value for value, _label in field.choices if value not in ("", None))
        elif field.initial not in (None, ""):
            data[name] = field.initial
        else:
            data[name] = "Walk test: checked by hand"
    return data


@pytest.mark.parametrize(("model", "model_admin", "name", "func"), list(registered_actions()))
def test_every_admin_action_declares_a_permission_staff_without_it_never_get(model, model_admin, name, func):
    permissions = getattr(func, "allowed_permissions", ())
    assert permissions, f"{name}: declare @admin.action(permissions=[...])"
    for permission in permissions:
        assert callable(getattr(model_admin, f"has_{permission}_permission", None)), f"has_{permission}_permission"
    request = RequestFactory().post("/")
    request.user = UserFactory(is_staff=True)  # staff with no role
    assert name not in (model_admin.get_actions(request) or {})
    request.user = UserFactory(is_staff=True, is_superuser=True)
    assert name in model_admin.get_actions(request)


@pytest.mark.parametrize(("model", "model_admin", "name", "func"), list(registered_actions()))
def test_every_admin_action_asks_a_reason_first_then_goes_through_the_audited_path(
    admin_client, model, model_admin, name, func
):
    obj = factory_for(model)(**WALK_ROWS.get(model._meta.label_lower, {}))
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    selected = {"action": name, ACTION_CHECKBOX_NAME: [obj.pk]}

    asked = admin_client.post(url, selected)
    assert asked.status_code == 200, f"{name} acted without asking first"
    form = asked.context["form"]
    assert "reason" in form.fields, f"{name}: the form must ask why (support.admin.staff_actions.ReasonForm)"
    assert not getattr(asked.wsgi_request, "audited_staff_actions", None)
    assert not AuditLog.objects.exists()

    done = admin_client.post(url, {**selected, **fill(form), "confirm": "yes"})
    assert done.status_code in (200, 302)
    assert getattr(done.wsgi_request, "audited_staff_actions", None), f"{name} bypassed perform_and_audit"
    refused = [str(m) for m in get_messages(done.wsgi_request) if m.level_tag == "warning"]
    audited = AuditLog.objects.filter(target_id=str(obj.pk), actor__is_superuser=True).exists()
    assert audited or refused, f"{name}: neither an audit row nor a refusal"


@pytest.mark.parametrize(("url_name", "pattern"), custom_admin_pages())
def test_every_custom_staff_page_declares_its_permission_and_staff_without_it_get_403(client, url_name, pattern):
    if url_name in EXEMPT_PAGES:
        return
    callback = pattern.callback
    assert hasattr(callback, "staff_permission"), f"{url_name}: decorate the view with @staff_view(...)"
    if callback.staff_changes_state:
        test_name = AUDITED_PAGE_TESTS.get(url_name)
        assert test_name and callable(named_test(test_name)), f"{url_name}: name a test proving its audit row"
    if callback.staff_permission is None:
        return
    client.force_login(UserFactory(is_staff=True))  # staff with no role
    path = "/" + re.sub(r"<(?:\w+:)?\w+>", "1", str(pattern.pattern))
    prefix = "" if path.startswith("/admin/") else None
    if prefix is None:  # a ModelAdmin URL: find its full path through its name
        kwargs = dict.fromkeys(pattern.pattern.converters, 1)
        path = reverse(f"admin:{url_name}", kwargs=kwargs)
    assert client.get(path).status_code == 403, f"{url_name}: GET without {callback.staff_permission}"
    assert client.post(path).status_code in (403, 405), f"{url_name}: POST without {callback.staff_permission}"


def test_django_bulk_delete_is_not_an_action_anywhere():
    request = RequestFactory().post("/")
    request.user = UserFactory(is_staff=True, is_superuser=True)
    for model_admin in admin.site._registry.values():
        assert "delete_selected" not in (model_admin.get_actions(request) or {})


# --- Pages that change state: their audit rows ------------------------------------------------------------------


def test_the_void_coupon_page_is_audited(staff_client):
    coupon = factories.CouponFactory()
    url = reverse("admin:accounts_user_void_coupon", args=[coupon.owner_id, coupon.pk])
    asked = staff_client.post(url, {"reason": ""})
    assert asked.status_code == 200 and not AuditLog.objects.exists()
    staff_client.post(url, {"reason": "Issued by mistake"})
    coupon.refresh_from_db()
    assert coupon.status == "voided"
    audit = AuditLog.objects.get(action="coupon.void")
    assert (audit.actor, audit.target_id, audit.reason) == (staff_client.staff, str(coupon.pk), "Issued by mistake")


def test_a_manual_coupon_within_the_bounds_is_issued_and_audited(staff_client):
    member = UserFactory(country="US")
    response = staff_client.post(reverse("admin:coupons_coupon_issue"), issue_form(member, "15.00"))
    assert response.status_code == 302
    coupon = Coupon.objects.get(owner=member)
    assert coupon.value == 15 and coupon.ledger.get().actor == staff_client.staff
    audit = AuditLog.objects.get(action="coupon.issue_manual")
    assert (audit.actor, audit.target_id, audit.details["coupon_id"]) == (staff_client.staff, str(member.pk), coupon.pk)


def test_deciding_from_a_referrals_own_page_is_audited(staff_client):
    referral = ReferralFactory(state="under_review", reason_code="SHARED_IP_AND_AGENT")
    url = reverse("admin:referrals_referral_decide", args=[referral.pk, "approve_reviews"])
    asked = staff_client.post(url, {})
    assert asked.status_code == 200 and not AuditLog.objects.exists()
    staff_client.post(url, {"confirm": "yes", "reason": "Flatmates, checked"})
    row = AuditLog.objects.get(action="referral.approve_review")
    assert (row.actor, row.target_id, row.reason) == (staff_client.staff, str(referral.pk), "Flatmates, checked")


def issue_form(member, value: str, **extra) -> dict:
    return {
        "member_email": member.email,
        "kind": "platform",
        "title": "Goodwill",
        "value": value,
        "min_spend": "0",
        "currency": "USD",
        "valid_days": "30",
        "reason": "Parcel lost by the carrier",
        "token": f"token-{member.pk}-{value}",
        **extra,
    }


# --- Refunds: one role ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "allowed"), [("Support agent", True), ("Fraud analyst", False), ("Program manager", False)]
)
def test_refund_decisions_belong_to_the_support_agent_only(role_client, role, allowed):
    """README, staff roles: support agents decide refund requests; the other roles do not see the actions."""
    buyer = UserFactory()
    order = completed_order(buyer=buyer, total="30.00")
    from flows import orders as flows

    flows.request_refund(order=order)
    client = role_client(role)
    url = reverse("admin:orders_order_changelist")
    listing = client.get(url)
    assert listing.status_code == 200
    assert ("approve_refund_requests" in listing.content.decode()) is allowed
    selected = {"action": "approve_refund_requests", ACTION_CHECKBOX_NAME: [order.pk]}
    client.post(url, {**selected, "confirm": "yes", "reason": "Arrived broken"})
    order.refresh_from_db()
    assert (order.state == OrderState.REFUNDED) is allowed
    assert AuditLog.objects.filter(action="order.approve_refund", target_id=str(order.pk)).exists() is allowed


# --- Nobody credits a referral they are part of ----------------------------------------------------------------


@pytest.mark.parametrize("side", ["referrer", "friend"])
def test_nobody_credits_a_referral_they_are_part_of(side):
    referral = ReferralFactory(state=ReferralState.CAPPED, reason_code="MONTHLY_LIMIT")
    referral.completed_at = referral.registered_at
    referral.save(update_fields=["completed_at"])
    staff_member = getattr(referral, side)
    staff_member.is_staff = True
    staff_member.save(update_fields=["is_staff"])
    with pytest.raises(CreditError, match="part of"):
        credit_manually(referral=referral, actor=staff_member, reason="My own friend, honest")
    assert not Coupon.objects.filter(referral=referral).exists()
    credited = credit_manually(referral=referral, actor=UserFactory(is_staff=True), reason="Checked the order")
    assert credited.referral_id == referral.pk
