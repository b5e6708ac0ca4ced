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
        member=member,
        source="manual",
        value=Decimal("5.00"),
        min_spend=Decimal("20.00"),
        idempotency_key="manual:1",
        reason="goodwill",
    )
    again = issue_coupon(
        member=member,
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


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_issues_with_one_key_give_one_coupon_with_its_ledger_row():
    import threading

    from django.db import connection

    from coupons.models import Coupon

    member = UserFactory()
    barrier = threading.Barrier(6)
    results, errors = [], []

    def issue():
        try:
            barrier.wait()
            coupon = issue_coupon(
                member=member, source="manual", value=Decimal("5.00"), idempotency_key="race:1", reason="race"
            )
            results.append(coupon.pk)
        except Exception as error:  # noqa: BLE001 - collected and asserted below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=issue) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(set(results)) == 1
    assert Coupon.objects.filter(owner=member).count() == 1
    assert LedgerEntry.objects.filter(idempotency_key="race:1").count() == 1
