from datetime import timedelta
from decimal import Decimal

import pytest

from coupons.models import LedgerEntry
from coupons.services import issue_coupon
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_issue_coupon_writes_one_ledger_row_and_is_idempotent():
    member = UserFactory()
    first = issue_coupon(
        owner=member,
        source="manual",
        value=Decimal("5.00"),
        min_spend=Decimal("20.00"),
        idempotency_key="manual:1",
        reason="goodwill",
    )
    again = issue_coupon(
        owner=member,
        source="manual",
        value=Decimal("5.00"),
        min_spend=Decimal("20.00"),
        idempotency_key="manual:1",
        reason="goodwill",
    )
    assert again.pk == first.pk
    assert first.expires_at - first.issued_at == timedelta(days=30)
    entries = LedgerEntry.objects.filter(member=member)
    assert [(e.event, e.amount) for e in entries] == [("issued", Decimal("5.00"))]
