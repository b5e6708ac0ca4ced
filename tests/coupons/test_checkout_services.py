"""price_checkout, redeem_for_order and release_for_canceled_order (docs/program-rules.md sections 4 and 5)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from accounts.models import User
from coupons.models import Campaign, Coupon, LedgerEntry, PromoRedemption
from coupons.pricing import price_checkout
from coupons.services import RedemptionError, redeem_for_order, release_for_canceled_order
from coupons.stacking import CartLine, CheckoutError, Reason
from tests.concurrency import race as _race
from tests.factories import CampaignFactory, CouponFactory, UserFactory

pytestmark = pytest.mark.django_db
D = Decimal


def cart(store, price="100.00", sale="70.00"):
    return [CartLine(store_id=store.pk, store_name=store.name, list_price=D(price), sale_price=D(sale))]


def test_price_checkout_reproduces_the_worked_example(make_store):
    store = make_store("Bolt Bikes")
    member = UserFactory(coins=500)
    store_coupon = CouponFactory(owner=member, kind="store", store=store, value=D("3.00"), min_spend=D("0"))
    referral = CouponFactory(owner=member, source="referral", value=D("5.00"), min_spend=D("20.00"))
    result = price_checkout(
        member=member, cart_lines=cart(store), coupon_ids=[referral.pk, store_coupon.pk], promo_code=None, coins=50
    )
    assert result.total == D("61.50")
    assert result.applied_coupon_ids == tuple(sorted([store_coupon.pk, referral.pk]))


def test_price_checkout_never_reveals_another_members_coupon(make_store):
    store = make_store()
    member, other = UserFactory(), UserFactory()
    foreign = CouponFactory(owner=other, min_spend=D("0"))
    result = price_checkout(member=member, cart_lines=cart(store), coupon_ids=[foreign.pk], promo_code="", coins=0)
    assert result.decision_for(foreign.pk).reason == Reason.NOT_IN_WALLET
    assert result.total == D("70.00")


def test_price_checkout_explains_used_coupon_and_region(make_store):
    store = make_store()
    member = UserFactory(country="RU")  # RU is outside the program by default
    used = CouponFactory(owner=member, status="used", min_spend=D("0"))
    welcome = CouponFactory(owner=member, source="welcome", min_spend=D("0"))
    event = CouponFactory(owner=member, source="event", kind="select", min_spend=D("0"))
    result = price_checkout(
        member=member,
        cart_lines=cart(store),
        coupon_ids=[used.pk, welcome.pk, event.pk],
        promo_code=None,
        coins=0,
        currency="USD",
    )
    assert result.decision_for(used.pk).message == "already used"
    assert result.decision_for(welcome.pk).message == "not valid in your region"
    assert result.decision_for(event.pk).applies


def test_price_checkout_with_promo_code_replaces_platform_coupon(make_store):
    store = make_store()
    member = UserFactory()
    CampaignFactory(code="welcome10", value=D("10.00"), min_spend=D("50.00"))
    platform = CouponFactory(owner=member, min_spend=D("0"))
    result = price_checkout(
        member=member, cart_lines=cart(store), coupon_ids=[platform.pk], promo_code=" Welcome10 ", coins=0
    )
    assert result.promo.applies and result.promo.amount == D("10.00")
    assert result.decision_for(platform.pk).message == "your promo code replaced the platform coupon"
    unknown = price_checkout(member=member, cart_lines=cart(store), coupon_ids=[], promo_code="NOPE", coins=0)
    assert unknown.promo.reason == Reason.PROMO_UNKNOWN


def test_price_checkout_empty_cart_is_a_checkout_error():
    with pytest.raises(CheckoutError, match="empty"):
        price_checkout(member=UserFactory(), cart_lines=[], coupon_ids=[], promo_code=None, coins=0)


def test_redeem_marks_coupons_used_with_ledger_rows_and_is_retry_safe(make_order_row):
    member = UserFactory(coins=300)
    coupons = [CouponFactory(owner=member), CouponFactory(owner=member, kind="select")]
    order = make_order_row(member)
    ids = [c.pk for c in coupons]
    redeem_for_order(order=order, coupon_ids=ids, coins=120)
    redeem_for_order(order=order, coupon_ids=ids, coins=120)  # retry: nothing changes
    for coupon in Coupon.objects.filter(pk__in=ids):
        assert (coupon.status, coupon.used_order_id) == ("used", order.pk)
    member.refresh_from_db()
    assert member.coins == 180
    used_rows = LedgerEntry.objects.filter(member=member, event="used")
    assert sorted(r.amount for r in used_rows) == [D("-5.00"), D("-5.00"), D("-1.20")]


def test_a_coupon_cannot_pay_for_two_orders(make_order_row):
    member = UserFactory()
    coupon = CouponFactory(owner=member)
    redeem_for_order(order=make_order_row(member), coupon_ids=[coupon.pk])
    with pytest.raises(RedemptionError) as error:
        redeem_for_order(order=make_order_row(member), coupon_ids=[coupon.pk])
    assert error.value.code == "COUPON_UNAVAILABLE"


def test_redeem_is_all_or_nothing(make_order_row):
    member = UserFactory(coins=10)
    good = CouponFactory(owner=member)
    order = make_order_row(member)
    with pytest.raises(RedemptionError, match="coins"):
        redeem_for_order(order=order, coupon_ids=[good.pk], coins=50)
    good.refresh_from_db()
    assert good.status == "active"
    assert not LedgerEntry.objects.filter(event="used").exists()


def test_redeem_refuses_expired_foreign_and_closed(make_order_row):
    member = UserFactory()
    with time_machine.travel(timezone.now() - timedelta(days=31)):
        old = CouponFactory(owner=member)
    with pytest.raises(RedemptionError, match="expired"):
        redeem_for_order(order=make_order_row(member), coupon_ids=[old.pk])
    foreign = CouponFactory()
    with pytest.raises(RedemptionError) as error:
        redeem_for_order(order=make_order_row(member), coupon_ids=[foreign.pk])
    assert error.value.code == "NOT_IN_WALLET"
    with pytest.raises(RedemptionError) as error:
        redeem_for_order(order=make_order_row(member, state="refunded"), coupon_ids=[])
    assert error.value.code == "ORDER_CLOSED"


def test_redeem_expiry_edge_is_exact(make_order_row):
    member = UserFactory()
    coupon = CouponFactory(owner=member)
    with pytest.raises(RedemptionError):
        redeem_for_order(order=make_order_row(member), coupon_ids=[coupon.pk], at=coupon.expires_at)
    redeem_for_order(order=make_order_row(member), coupon_ids=[coupon.pk], at=coupon.expires_at - timedelta(seconds=1))


def test_promo_code_usage_limit_and_per_member_limit(make_order_row):
    campaign = CampaignFactory(code="ONCE", usage_limit=2, per_member_limit=1)
    first, second, third = UserFactory(), UserFactory(), UserFactory()
    redeem_for_order(order=make_order_row(first), coupon_ids=[], promo_code="once")
    with pytest.raises(RedemptionError) as error:
        redeem_for_order(order=make_order_row(first), coupon_ids=[], promo_code="ONCE")
    assert error.value.code == "PROMO_MEMBER_LIMIT"
    redeem_for_order(order=make_order_row(second), coupon_ids=[], promo_code="ONCE")
    with pytest.raises(RedemptionError) as error:
        redeem_for_order(order=make_order_row(third), coupon_ids=[], promo_code="ONCE")
    assert error.value.code == "PROMO_USED_UP"
    campaign.refresh_from_db()
    assert campaign.used_count == 2
    assert PromoRedemption.objects.filter(campaign=campaign).count() == 2


def test_canceled_before_payment_returns_unexpired_coupons_coins_and_promo(make_order_row):
    member = UserFactory(coins=100)
    campaign = CampaignFactory(code="BACK", usage_limit=5)
    keep = CouponFactory(owner=member)
    short = CouponFactory(owner=member, expires_at=timezone.now() + timedelta(hours=1))
    order = make_order_row(member)
    redeem_for_order(order=order, coupon_ids=[keep.pk, short.pk], promo_code="BACK", coins=40)
    order.state, order.canceled_at = "canceled", timezone.now()
    order.save()
    later = timezone.now() + timedelta(hours=2)  # `short` has expired meanwhile
    result = release_for_canceled_order(order=order, at=later)
    again = release_for_canceled_order(order=order, at=later)
    assert result.returned_coupon_ids == (keep.pk,)
    assert result.expired_coupon_ids == (short.pk,)
    assert (result.coins_returned, result.promo_returned) == (40, True)
    assert again.returned_coupon_ids == () and again.coins_returned == 0
    keep.refresh_from_db()
    short.refresh_from_db()
    member.refresh_from_db()
    campaign.refresh_from_db()
    assert (keep.status, keep.used_order_id) == ("active", None)
    assert short.status == "expired"
    assert member.coins == 100
    assert campaign.used_count == 0
    assert LedgerEntry.objects.filter(coupon=keep, event="returned").count() == 1
    # The returned coupon can pay for another order.
    redeem_for_order(order=make_order_row(member), coupon_ids=[keep.pk])


@pytest.mark.parametrize("state", ["refunded", "canceled_after_payment"])
def test_refunded_or_paid_order_keeps_its_coupons(make_order_row, state):
    member = UserFactory(coins=100)
    coupon = CouponFactory(owner=member)
    order = make_order_row(member)
    redeem_for_order(order=order, coupon_ids=[coupon.pk], coins=30)
    now = timezone.now()
    if state == "refunded":
        order.state, order.paid_at, order.refunded_at = "refunded", now, now
    else:
        order.state, order.paid_at, order.canceled_at = "canceled", now, now
    order.save()
    result = release_for_canceled_order(order=order)
    coupon.refresh_from_db()
    member.refresh_from_db()
    assert result.returned_coupon_ids == () and result.coins_returned == 0
    assert (coupon.status, coupon.used_order_id) == ("used", order.pk)
    assert member.coins == 70
    assert not LedgerEntry.objects.filter(event="returned").exists()


# --------------------------------------------------------------------------- concurrency (PostgreSQL)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("attempt", range(3))
def test_concurrent_checkouts_one_coupon_pays_for_one_order(make_order_row, attempt):
    member = UserFactory()
    coupon = CouponFactory(owner=member)
    orders = [make_order_row(member) for _ in range(8)]
    results = _race(8, lambda i: redeem_for_order(order=orders[i], coupon_ids=[coupon.pk]))
    wins = [r for r in results if not isinstance(r, Exception)]
    losses = [r for r in results if isinstance(r, Exception)]
    assert len(wins) == 1
    assert all(isinstance(r, RedemptionError) for r in losses)
    assert LedgerEntry.objects.filter(coupon=coupon, event="used").count() == 1
    coupon.refresh_from_db()
    assert coupon.used_order_id in {o.pk for o in orders}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_promo_uses_stop_at_the_usage_limit(make_order_row):
    campaign = CampaignFactory(code="RUSH", usage_limit=3, per_member_limit=1)
    members = [UserFactory() for _ in range(10)]
    orders = [make_order_row(m) for m in members]
    results = _race(10, lambda i: redeem_for_order(order=orders[i], coupon_ids=[], promo_code="RUSH"))
    assert sum(not isinstance(r, Exception) for r in results) == 3
    assert all(isinstance(r, RedemptionError) for r in results if isinstance(r, Exception))
    campaign.refresh_from_db()
    assert campaign.used_count == 3
    assert PromoRedemption.objects.filter(campaign=campaign).count() == 3


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_coin_spends_never_overdraw(make_order_row):
    member = UserFactory(coins=100)
    orders = [make_order_row(member) for _ in range(6)]
    results = _race(6, lambda i: redeem_for_order(order=orders[i], coupon_ids=[], coins=30))
    assert sum(not isinstance(r, Exception) for r in results) == 3
    assert User.objects.get(pk=member.pk).coins == 10


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_same_member_promo_per_member_limit_holds(make_order_row):
    CampaignFactory(code="MINE", per_member_limit=1)
    member = UserFactory()
    orders = [make_order_row(member) for _ in range(5)]
    results = _race(5, lambda i: redeem_for_order(order=orders[i], coupon_ids=[], promo_code="MINE"))
    assert sum(not isinstance(r, Exception) for r in results) == 1
    assert Campaign.objects.get(code="MINE").used_count == 1
