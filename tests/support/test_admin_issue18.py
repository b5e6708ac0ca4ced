"""Issue 18 in the admin: program managers register event endpoints, read the delivery log and re-send (an audited
action with its own permission), and set store coupon offers and milestones."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
from django.urls import reverse
from django.utils import timezone

from outbound import services
from outbound.models import Delivery, DeliveryStatus, Endpoint, EventType, OutboundEvent
from support.models import AuditLog
from tests.factories import ReferralEventFactory, ReferralFactory, StoreFactory

pytestmark = pytest.mark.django_db


def a_delivery(status=DeliveryStatus.FAILED) -> Delivery:
    hook = Endpoint.objects.create(name="CRM", url="https://crm.example.com/hooks", secret=services.new_secret())
    referral = ReferralFactory()
    row = ReferralEventFactory(referral=referral)
    event = OutboundEvent.objects.create(
        source=row, referral=referral, type=EventType.JOINED, occurred_at=timezone.now(), payload={"id": "evt_1"}
    )
    return Delivery.objects.create(endpoint=hook, event=event, status=status, attempts=8, next_attempt_at=None)


def test_a_program_manager_registers_an_https_endpoint_with_a_generated_secret(role_client):
    client = role_client("Program manager")
    url = reverse("admin:outbound_endpoint_add")
    form = {"name": "CRM", "event_types": ["referral.credited", "referral.reversed"], "is_active": "on"}
    refused = client.post(url, {**form, "url": "http://crm.example.com/hooks"})
    assert refused.status_code == 200 and "Use an https:// address." in refused.content.decode()
    assert not Endpoint.objects.exists()
    response = client.post(url, {**form, "url": "https://crm.example.com/hooks"})
    assert response.status_code == 302
    hook = Endpoint.objects.get()
    assert hook.secret.startswith("whsec_") and len(hook.secret) > 40
    assert hook.event_types == ["referral.credited", "referral.reversed"] and hook.created_by == client.user
    audit = AuditLog.objects.get(action="outbound.endpoint_added")
    assert audit.actor == client.user and audit.details["url"] == "https://crm.example.com/hooks"
    assert hook.secret in client.get(reverse("admin:outbound_endpoint_change", args=[hook.pk])).content.decode()


def test_a_resend_from_the_delivery_log_is_audited_and_makes_the_delivery_due(role_client):
    client = role_client("Program manager")
    delivery = a_delivery()
    changelist = reverse("admin:outbound_delivery_changelist")
    page = client.get(changelist).content.decode()
    assert "Re-send now" in page
    data = {"action": "resend", "_selected_action": [delivery.pk]}
    assert "Reason" in client.post(changelist, data).content.decode()  # asks why first
    assert Delivery.objects.get().status == DeliveryStatus.FAILED
    with mock.patch("outbound.tasks.dispatch_outbound_events.delay_on_commit") as enqueue:
        client.post(changelist, {**data, "confirm": "yes", "reason": "Receiver fixed its TLS"})
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.PENDING, 0)
    assert delivery.next_attempt_at <= timezone.now() + timedelta(seconds=1)
    enqueue.assert_called_once()
    audit = AuditLog.objects.get(action="outbound.resend")
    assert (audit.actor, audit.reason, audit.target_id) == (client.user, "Receiver fixed its TLS", str(delivery.pk))


@pytest.mark.parametrize("role", ["Support agent", "Fraud analyst"])
def test_other_roles_cannot_see_the_log_or_resend(role_client, role):
    client = role_client(role)
    delivery = a_delivery()
    changelist = reverse("admin:outbound_delivery_changelist")
    assert client.get(changelist).status_code == 403
    client.post(
        changelist, {"action": "resend", "_selected_action": [delivery.pk], "confirm": "yes", "reason": "x" * 9}
    )
    assert Delivery.objects.get().status == DeliveryStatus.FAILED and not AuditLog.objects.exists()


def test_a_program_manager_sets_store_offers_and_milestones(role_client):
    client = role_client("Program manager")
    store = StoreFactory()
    response = client.post(
        reverse("admin:coupons_storeoffer_add"),
        {
            "store": store.pk,
            "audience": "followers",
            "value": "3.00",
            "min_spend": "20.00",
            "currency": "USD",
            "valid_days": "30",
            "total_limit": "100",
            "starts_at_0": "2026-12-01",
            "starts_at_1": "00:00:00",
            "is_active": "on",
            "claims-TOTAL_FORMS": "0",
            "claims-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    from accounts.models import Region
    from coupons.models import StoreOffer
    from referrals.models import MilestoneTier

    assert StoreOffer.objects.get().total_limit == 100
    region = Region.objects.get(is_default=True)
    response = client.post(
        reverse("admin:referrals_milestonetier_add"),
        {"region": region.pk, "friends": "5", "value": "10.00", "min_spend": "30.00", "valid_days": "30"},
    )
    assert response.status_code == 302
    assert MilestoneTier.objects.get().is_active is False  # off until switched on
