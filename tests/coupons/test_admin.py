"""Coupon admin: promo codes, read-only money and status, the read-only ledger, issuing with a reason."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from coupons.models import Campaign, Coupon, LedgerEntry
from tests.factories import CampaignFactory, CouponFactory, UserFactory

pytestmark = pytest.mark.django_db


def campaign_post(**overrides):
    data = {
        "name": "Autumn",
        "kind": "promo",
        "code": " autumn5 ",
        "value": "5.00",
        "min_spend": "20.00",
        "currency": "USD",
        "valid_days": "30",
        "starts_at_0": "2026-01-01",
        "starts_at_1": "00:00:00",
        "usage_limit": "100",
        "per_member_limit": "1",
        "is_active": "on",
    }
    data.update(overrides)
    return data


def test_campaign_code_is_upper_cased_and_unique_whatever_the_case(staff_client):
    url = reverse("admin:coupons_campaign_add")
    response = staff_client.post(url, campaign_post())
    assert response.status_code == 302
    assert Campaign.objects.get().code == "AUTUMN5"
    again = staff_client.post(url, campaign_post(name="Copy", code="Autumn5"))
    assert again.status_code == 200
    assert "already used by another campaign" in again.content.decode()
    no_code = staff_client.post(url, campaign_post(name="No code", code=""))
    assert "needs a code" in no_code.content.decode()


def test_campaign_model_save_upper_cases_code():
    assert CampaignFactory(code="mixedCase").code == "MIXEDCASE"


def test_coupon_admin_pages_load_and_money_is_read_only(staff_client):
    coupon = CouponFactory()
    assert staff_client.get(reverse("admin:coupons_coupon_changelist"), {"q": coupon.owner.email}).status_code == 200
    change = staff_client.get(reverse("admin:coupons_coupon_change", args=[coupon.pk]))
    assert change.status_code == 200
    assert 'name="value"' not in change.content.decode()
    assert 'name="status"' not in change.content.decode()
    assert staff_client.get(reverse("admin:coupons_ledgerentry_changelist")).status_code == 200
    assert staff_client.get(reverse("admin:coupons_campaign_changelist")).status_code == 200


def test_ledger_admin_cannot_add_change_or_delete(staff_client):
    coupon = CouponFactory()
    entry = LedgerEntry.objects.create(
        member=coupon.owner, coupon=coupon, event="issued", amount=Decimal("5"), idempotency_key="k1"
    )
    assert staff_client.get(reverse("admin:coupons_ledgerentry_add")).status_code == 403
    assert staff_client.get(reverse("admin:coupons_ledgerentry_delete", args=[entry.pk])).status_code == 403
    response = staff_client.post(reverse("admin:coupons_ledgerentry_change", args=[entry.pk]), {"reason": "edited"})
    assert response.status_code == 403
    entry.refresh_from_db()
    assert entry.reason == ""


def test_issue_coupon_form_requires_a_reason_and_records_the_staff_actor(staff_client):
    member = UserFactory()
    url = reverse("admin:coupons_coupon_issue")
    assert staff_client.get(reverse("admin:coupons_coupon_add")).url == url
    form = staff_client.get(url)
    token = form.context["form"].initial["token"]
    data = {
        "member_email": member.email.upper(),
        "kind": "platform",
        "value": "5.00",
        "min_spend": "20.00",
        "currency": "usd",
        "valid_days": "30",
        "reason": "",
        "token": token,
    }
    missing = staff_client.post(url, data)
    assert missing.status_code == 200 and not Coupon.objects.exists()
    data["reason"] = "Goodwill after a late delivery"
    assert staff_client.post(url, data).status_code == 302
    assert staff_client.post(url, data).status_code == 302  # double submit: same token, one coupon
    coupon = Coupon.objects.get()
    assert (coupon.owner, coupon.source, coupon.value, coupon.currency) == (member, "manual", Decimal("5.00"), "USD")
    entry = LedgerEntry.objects.get(coupon=coupon)
    assert (entry.event, entry.actor, entry.reason) == ("issued", staff_client.staff, "Goodwill after a late delivery")


def test_issue_form_rejects_unknown_member_and_store_coupon_without_store(staff_client):
    url = reverse("admin:coupons_coupon_issue")
    data = {
        "member_email": "nobody@example.com",
        "kind": "store",
        "value": "5.00",
        "min_spend": "0",
        "currency": "USD",
        "valid_days": "30",
        "reason": "testing the form",
        "token": "t1",
    }
    html = staff_client.post(url, data).content.decode()
    assert "No member has that e-mail address." in html
    assert "A store coupon needs its store." in html
    assert not Coupon.objects.exists()


def test_non_staff_cannot_issue(client):
    client.force_login(UserFactory())
    response = client.get(reverse("admin:coupons_coupon_issue"))
    assert response.status_code == 302 and "/admin/login/" in response.url
