"""One coins service, one coin ledger (docs/program-rules.md section 8): every movement of `User.coins`, checkout
spends and returns included, is a CoinLedger row, so each member's ledger sums to their balance."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db.models import Sum
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from coupons import coins
from coupons.models import CoinLedger, LedgerEntry
from coupons.services import redeem_for_order, release_for_canceled_order
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def ledger_sum(member) -> int:
    return CoinLedger.objects.filter(member=member).aggregate(s=Sum("delta"))["s"] or 0


def balance(member) -> int:
    return User.objects.values_list("coins", flat=True).get(pk=member.pk)


def cancel_before_payment(order) -> None:
    order.state, order.canceled_at = "canceled", timezone.now()
    order.save(update_fields=["state", "canceled_at"])


def test_check_ins_exchanges_checkout_spends_and_returns_all_sum_to_the_balance(make_order_row):
    maya, theo = UserFactory(), UserFactory()
    for day in range(12):  # 10, 15, … 40, 40: 375 coins
        coins.check_in(member=maya, at=T0 + timedelta(days=day))
    for day in range(3):  # 10 + 15 + 20
        coins.check_in(member=theo, at=T0 + timedelta(days=day))
    coins.move_coins(member=maya, delta=300, kind=CoinLedger.Kind.MANUAL, idempotency_key="grant:maya", reason="t")
    coins.exchange_coins(member=maya, offer_code="5-off-25", request_token="e" * 32)  # −500

    first, second, theirs = make_order_row(maya), make_order_row(maya), make_order_row(theo)
    redeem_for_order(order=first, coupon_ids=[], coins=120)
    redeem_for_order(order=second, coupon_ids=[], coins=50)
    redeem_for_order(order=theirs, coupon_ids=[], coins=30)
    redeem_for_order(order=first, coupon_ids=[], coins=120)  # a retry spends nothing more
    cancel_before_payment(first)
    cancel_before_payment(theirs)
    assert release_for_canceled_order(order=first).coins_returned == 120
    assert release_for_canceled_order(order=theirs).coins_returned == 30
    assert release_for_canceled_order(order=first).coins_returned == 0  # and a retry returns nothing more

    assert balance(maya) == 375 + 300 - 500 - 120 - 50 + 120 == 125
    assert balance(theo) == 45
    for member in (maya, theo):
        assert ledger_sum(member) == balance(member)
        latest = CoinLedger.objects.filter(member=member).order_by("-created_at", "-id").first()
        assert latest.balance_after == balance(member)

    rows = CoinLedger.objects.filter(member=maya, order__isnull=False).order_by("id")
    assert [(r.kind, r.delta, r.order_id) for r in rows] == [
        (CoinLedger.Kind.CHECKOUT, -120, first.pk),
        (CoinLedger.Kind.CHECKOUT, -50, second.pk),
        (CoinLedger.Kind.RETURN, 120, first.pk),
    ]
    # The coupon ledger still records the money value of the coins, as for every discount of an order.
    assert LedgerEntry.objects.get(idempotency_key=f"coins:order:{second.pk}").amount == Decimal("-0.50")


def test_coins_over_the_balance_at_checkout_write_no_ledger_row(make_order_row):
    from coupons.services import RedemptionError

    member = UserFactory()
    coins.check_in(member=member, at=T0)  # 10 coins
    with pytest.raises(RedemptionError) as error:
        redeem_for_order(order=make_order_row(member), coupon_ids=[], coins=11)
    assert error.value.code == "COINS_BALANCE"
    assert balance(member) == ledger_sum(member) == 10
    assert not CoinLedger.objects.filter(member=member, kind=CoinLedger.Kind.CHECKOUT).exists()


def test_the_rewards_page_history_shows_checkout_spends_and_returns(client, make_order_row):
    member = UserFactory()
    coins.move_coins(member=member, delta=200, kind=CoinLedger.Kind.MANUAL, idempotency_key="g", reason="Welcome")
    order = make_order_row(member)
    redeem_for_order(order=order, coupon_ids=[], coins=40)
    cancel_before_payment(order)
    release_for_canceled_order(order=order)
    client.force_login(member)
    html = client.get(reverse("accounts:rewards")).content.decode()
    assert "Spent at checkout" in html and "-40" in html
    assert "Returned (order canceled)" in html
