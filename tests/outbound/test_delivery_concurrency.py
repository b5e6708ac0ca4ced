"""Two or more dispatchers at once (PostgreSQL threads released by a Barrier): each due delivery is attempted by
one of them only, and fan-out makes each event once (docs/outbound-events.md)."""

from __future__ import annotations

import json

import pytest

from outbound import services
from outbound.models import Delivery, DeliveryStatus, Endpoint, OutboundEvent
from referrals.services import record_start
from tests.concurrency import run_together
from tests.factories import ReferralFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("attempt", range(3))
def test_four_dispatchers_send_each_event_once(receiver, attempt):
    Endpoint.objects.create(name="CRM", url=receiver.url, secret=services.new_secret())
    for _ in range(12):
        record_start(referral=ReferralFactory())
    results, errors = run_together(4, lambda i: services.fan_out())
    assert errors == [] and sum(results) == 12
    assert OutboundEvent.objects.count() == 12 and Delivery.objects.count() == 12
    receiver.delay = 0.05  # long enough for the dispatchers to overlap
    runs, errors = run_together(4, lambda i: services.deliver_due(budget_seconds=20))
    assert errors == [] and sum(r.delivered for r in runs) == 12
    ids = [json.loads(r["body"])["id"] for r in receiver.received]
    assert len(ids) == len(set(ids)) == 12
    assert set(Delivery.objects.values_list("status", flat=True)) == {DeliveryStatus.DELIVERED}
