"""Outbound referral events: which changes are events, signed deliveries to a local receiver, retries with
exponential backoff, giving up, re-sends, and crediting untouched by a receiver that is down
(docs/outbound-events.md)."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from accounts.models import Region
from orders.webhooks import verify_signature
from outbound import services
from outbound.events import event_types_for
from outbound.models import Delivery, DeliveryAttempt, DeliveryStatus, Endpoint, OutboundEvent
from outbound.transport import SIGNATURE_HEADER
from referrals.reasons import ReferralState
from referrals.services import credit_due_referrals, credit_referral, record_start
from tests.factories import OrderFactory, ReferralFactory, UserFactory
from tests.referrals.helpers import event

pytestmark = pytest.mark.django_db


def endpoint(url: str, **fields) -> Endpoint:
    return Endpoint.objects.create(name="CRM", url=url, secret=services.new_secret(), **fields)


def credited_referral():
    referral = ReferralFactory()
    record_start(referral=referral)  # the sign-up's first timeline row (the factory writes none)
    order = OrderFactory(buyer=referral.friend)
    now = timezone.now()
    event(referral, order, "placed", now - timedelta(hours=2))
    event(referral, order, "completed", now - timedelta(hours=1))
    assert credit_referral(referral_id=referral.pk) == ReferralState.CREDITED
    referral.refresh_from_db()
    return referral, order


@pytest.mark.parametrize(
    ("from_state", "to_state", "types"),
    [
        ("", "registered", ["referral.joined"]),
        ("", "under_review", ["referral.joined"]),
        ("", "rejected", ["referral.joined", "referral.rejected"]),
        ("registered", "order_placed", []),
        ("order_placed", "qualified", ["referral.qualified"]),
        ("qualified", "credited", ["referral.credited"]),
        ("qualified", "capped", ["referral.capped"]),
        ("order_placed", "voided", ["referral.voided"]),
        ("credited", "voided", ["referral.reversed"]),
        ("under_review", "rejected", ["referral.rejected"]),
        ("credited", "credited", []),
    ],
)
def test_which_timeline_rows_are_events(from_state, to_state, types):
    assert event_types_for(from_state=from_state, to_state=to_state) == types


def test_a_credited_referral_reaches_the_receiver_signed(receiver):
    hook = endpoint(receiver.url)
    referral, _ = credited_referral()
    assert services.fan_out() == 3  # joined, qualified, credited
    run = services.deliver_due(budget_seconds=10)
    assert run.delivered == 3 and run.failed == 0
    types = [json.loads(r["body"])["type"] for r in receiver.received]
    assert types == ["referral.joined", "referral.qualified", "referral.credited"]
    credited = receiver.received[-1]
    body = json.loads(credited["body"])
    assert body["data"]["referral_id"] == referral.pk and body["data"]["state"] == "credited"
    assert body["data"]["reward"] == {"coupon_id": referral.reward_coupon.pk, "value": "5.00", "currency": "USD"}
    assert "email" not in credited["body"].decode()  # ids and states only
    # The receiver checks the signature exactly as the portal checks the shop's (same scheme, same helper).
    assert verify_signature(
        header=credited["headers"][SIGNATURE_HEADER], body=credited["body"], secrets=[hook.secret], tolerance=300
    )
    with pytest.raises(Exception, match="does not match"):
        verify_signature(
            header=credited["headers"][SIGNATURE_HEADER],
            body=credited["body"] + b" ",
            secrets=[hook.secret],
            tolerance=300,
        )
    assert credited["headers"]["Referral-Event-Type"] == "referral.credited"
    assert credited["headers"]["Referral-Event-Id"] == body["id"]
    assert set(Delivery.objects.values_list("status", flat=True)) == {DeliveryStatus.DELIVERED}
    # Running again sends nothing twice.
    assert services.fan_out() == 0
    assert services.deliver_due(budget_seconds=5).delivered == 0
    assert len(receiver.received) == 3


def test_an_endpoint_gets_only_the_events_it_chose_and_only_after_it_was_added(receiver):
    credited_referral()  # before any endpoint: nobody hears of it
    services.fan_out()
    endpoint(receiver.url, event_types=["referral.credited"])
    credited_referral()
    services.fan_out()
    services.deliver_due(budget_seconds=10)
    assert [json.loads(r["body"])["type"] for r in receiver.received] == ["referral.credited"]


def test_a_failing_receiver_is_retried_with_exponential_backoff_then_given_up(receiver):
    receiver.status = 503
    endpoint(receiver.url, event_types=["referral.credited"])
    credited_referral()
    services.fan_out()
    delivery = Delivery.objects.get()
    gaps = []
    with override_settings(OUTBOUND_EVENTS_MAX_ATTEMPTS=4, OUTBOUND_EVENTS_RETRY_BASE_SECONDS=60):
        for _ in range(4):
            due = delivery.next_attempt_at
            assert services.deliver_due(budget_seconds=5, now=due - timedelta(seconds=1)).failed == 0  # not yet due
            services.deliver_due(budget_seconds=5, now=due)
            delivery.refresh_from_db()
            if delivery.next_attempt_at:
                gaps.append(round((delivery.next_attempt_at - delivery.last_attempt_at).total_seconds()))
    assert gaps == [60, 120, 240]
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (DeliveryStatus.FAILED, 4, 503)
    assert list(DeliveryAttempt.objects.filter(delivery=delivery).values_list("status_code", flat=True)) == [503] * 4
    assert len(receiver.received) == 4


def test_a_receiver_that_comes_back_gets_the_event_on_the_next_attempt(receiver):
    receiver.status = 500
    endpoint(receiver.url, event_types=["referral.credited"])
    credited_referral()
    services.fan_out()
    services.deliver_due(budget_seconds=5)
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.PENDING, 1)
    receiver.status = 204
    services.deliver_due(budget_seconds=5, now=delivery.next_attempt_at)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (DeliveryStatus.DELIVERED, 2, 204)
    first, second = receiver.received
    assert json.loads(first["body"])["id"] == json.loads(second["body"])["id"]  # same event id: receivers dedupe


def test_a_receiver_that_is_down_never_slows_crediting(dead_url, receiver):
    endpoint(dead_url)
    slow = endpoint(receiver.url)
    receiver.delay = 2.0
    started = time.monotonic()
    credited_referral()
    assert time.monotonic() - started < 1.5  # crediting makes no HTTP call at all
    assert not Delivery.objects.exists() and not receiver.received
    services.fan_out()
    with override_settings(OUTBOUND_EVENTS_TIMEOUT_SECONDS=0.5):
        services.deliver_due(budget_seconds=30)
    down = Delivery.objects.filter(endpoint__url=dead_url)
    assert set(down.values_list("status", flat=True)) == {DeliveryStatus.PENDING}
    assert all(d.last_error and d.last_status_code is None for d in down)
    assert Delivery.objects.filter(endpoint=slow, last_error__icontains="timed out").exists()


def test_a_resend_makes_a_delivered_event_due_again(receiver):
    endpoint(receiver.url, event_types=["referral.credited"])
    credited_referral()
    services.fan_out()
    services.deliver_due(budget_seconds=5)
    delivery = Delivery.objects.get()
    services.resend(delivery=delivery, actor=UserFactory(is_staff=True))
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.PENDING, 0)
    services.deliver_due(budget_seconds=5)
    assert len(receiver.received) == 2
    delivery.endpoint.is_active = False
    delivery.endpoint.save()
    with pytest.raises(services.DeliveryError):
        services.resend(delivery=delivery, actor=UserFactory(is_staff=True))


def test_a_reversed_reward_is_its_own_event(receiver):
    endpoint(receiver.url, event_types=["referral.reversed", "referral.voided"])
    referral, order = credited_referral()
    event(referral, order, "canceled", referral.completed_at - timedelta(minutes=5))
    services.fan_out()
    services.deliver_due(budget_seconds=5)
    [only] = [json.loads(r["body"]) for r in receiver.received]
    assert (only["type"], only["data"]["state"], only["data"]["reason_code"]) == (
        "referral.reversed",
        "voided",
        "FIRST_ORDER_CANCELED",
    )


def test_a_rotated_secret_signs_with_both_until_the_next_rotation(receiver):
    hook = endpoint(receiver.url, event_types=["referral.credited"])
    old = hook.secret
    hook = services.rotate_secret(endpoint=hook)
    credited_referral()
    services.fan_out()
    services.deliver_due(budget_seconds=5)
    got = receiver.received[0]
    for secret in (old, hook.secret):
        verify_signature(header=got["headers"][SIGNATURE_HEADER], body=got["body"], secrets=[secret], tolerance=300)


def test_endpoints_must_be_https():
    services.check_endpoint_url("https://crm.example.com/hooks")
    services.check_endpoint_url("http://127.0.0.1:9000/hooks")  # local receivers in development and tests
    for bad in ("http://crm.example.com/hooks", "ftp://crm.example.com", "https://"):
        with pytest.raises(services.DeliveryError):
            services.check_endpoint_url(bad)


def test_events_are_made_once_even_when_fan_out_runs_again_over_the_same_rows(receiver):
    endpoint(receiver.url)
    credited_referral()
    first = services.fan_out()
    # Move the cursor back as a late-committed change would need: the overlap finds nothing new.
    assert services.fan_out(now=timezone.now()) == 0
    assert OutboundEvent.objects.count() == first


def test_a_switched_off_endpoint_is_not_called_until_it_is_switched_on_again(receiver):
    hook = endpoint(receiver.url, event_types=["referral.credited"])
    credited_referral()
    services.fan_out()
    Endpoint.objects.filter(pk=hook.pk).update(is_active=False)
    assert services.deliver_due(budget_seconds=5).delivered == 0 and not receiver.received
    assert Delivery.objects.get().status == DeliveryStatus.PENDING
    Endpoint.objects.filter(pk=hook.pk).update(is_active=True)
    assert services.deliver_due(budget_seconds=5).delivered == 1 and len(receiver.received) == 1


def test_the_sweeps_batch_inserts_become_credited_and_capped_events(receiver):
    """The sweep credits and caps a batch with bulk timeline INSERTs: each row is an event (recorded_at is set)."""
    endpoint(receiver.url, event_types=["referral.credited", "referral.capped"])
    referrer = UserFactory()
    due_at = timezone.now() - timedelta(hours=1)
    Region.objects.filter(is_default=True).update(monthly_limit=2)
    referrals = [
        ReferralFactory(
            referrer=referrer, state="qualified", completed_at=due_at, credit_due_at=due_at + timedelta(seconds=i)
        )
        for i in range(3)
    ]
    assert credit_due_referrals() == {"credited": 2, "capped": 1}
    assert services.fan_out() == 3
    made = dict(OutboundEvent.objects.values_list("referral_id", "type"))
    assert made == {
        referrals[0].pk: "referral.credited",
        referrals[1].pk: "referral.credited",
        referrals[2].pk: "referral.capped",
    }
    assert services.deliver_due(budget_seconds=10).delivered == 3
