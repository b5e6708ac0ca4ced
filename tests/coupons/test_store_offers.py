"""Store coupons from a store's page ("Get coupons"): audiences, once per member, limits, following, stacking
(docs/program-rules.md sections 4 and 5)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from coupons.models import Coupon, CouponKind, LedgerEntry, StoreOffer, StoreOfferAudience, StoreOfferClaim
from coupons.services.store_offers import collect_store_offer
from coupons.store_offers import StoreOfferError
from flows import orders as flows
from orders.models import StoreFollow
from orders.services.follows import follow_store, unfollow_store
from tests.factories import (
    ProductFactory,
    StoreFactory,
    StoreFollowFactory,
    StoreOfferFactory,
    UserFactory,
    completed_order,
)

pytestmark = pytest.mark.django_db
D = Decimal


def _refused(code: str, **kwargs) -> None:
    with pytest.raises(StoreOfferError) as caught:
        collect_store_offer(**kwargs)
    assert caught.value.code == code


def test_a_follower_collects_a_store_coupon_once_with_its_ledger_row():
    member = UserFactory()
    offer = StoreOfferFactory(value=D("3.00"), min_spend=D("20.00"), valid_days=14)
    StoreFollowFactory(store=offer.store, member=member)
    coupon = collect_store_offer(member=member, offer_id=offer.pk)
    assert (coupon.kind, coupon.source, coupon.store_id, coupon.owner_id) == (
        "store",
        "store",
        offer.store_id,
        member.pk,
    )
    assert (coupon.value, coupon.min_spend) == (D("3.00"), D("20.00"))
    assert coupon.expires_at - coupon.issued_at == timedelta(days=14)
    assert LedgerEntry.objects.filter(coupon=coupon, event="issued").count() == 1
    _refused("ALREADY_COLLECTED", member=member, offer_id=offer.pk)
    offer.refresh_from_db()
    assert offer.collected_count == 1 and Coupon.objects.filter(owner=member).count() == 1


def test_followers_only_offer_refuses_a_member_who_does_not_follow():
    offer = StoreOfferFactory()
    _refused("NOT_FOLLOWING", member=UserFactory(), offer_id=offer.pk)
    assert StoreOffer.objects.get(pk=offer.pk).collected_count == 0


def test_first_buyer_offer_is_for_members_who_never_bought_from_that_store():
    store = StoreFactory()
    offer = StoreOfferFactory(store=store, audience=StoreOfferAudience.FIRST_BUYERS)
    buyer, other_store_buyer, newcomer = UserFactory(), UserFactory(), UserFactory()
    completed_order(buyer=buyer, total="20.00", product=ProductFactory(store=store))
    completed_order(buyer=other_store_buyer, total="20.00", product=ProductFactory())
    _refused("NOT_FIRST_BUYER", member=buyer, offer_id=offer.pk)
    assert collect_store_offer(member=other_store_buyer, offer_id=offer.pk).store_id == store.pk
    assert collect_store_offer(member=newcomer, offer_id=offer.pk).store_id == store.pk


def test_an_order_canceled_before_payment_does_not_make_a_buyer():
    store = StoreFactory()
    offer = StoreOfferFactory(store=store, audience=StoreOfferAudience.FIRST_BUYERS)
    member = UserFactory()
    order = flows.place_order(member=member, lines=[(ProductFactory(store=store), 1)], card_label="Visa 4242")
    _refused("NOT_FIRST_BUYER", member=member, offer_id=offer.pk)
    flows.cancel(order=order)
    assert collect_store_offer(member=member, offer_id=offer.pk).store_id == store.pk


def test_the_total_limit_and_the_dates_close_an_offer():
    members = [UserFactory() for _ in range(3)]
    offer = StoreOfferFactory(audience=StoreOfferAudience.FIRST_BUYERS, total_limit=2)
    collect_store_offer(member=members[0], offer_id=offer.pk)
    collect_store_offer(member=members[1], offer_id=offer.pk)
    _refused("ALL_COLLECTED", member=members[2], offer_id=offer.pk)
    ended = StoreOfferFactory(audience=StoreOfferAudience.FIRST_BUYERS, ends_at=timezone.now())
    _refused("OFFER_CLOSED", member=members[2], offer_id=ended.pk)
    later = StoreOfferFactory(audience=StoreOfferAudience.FIRST_BUYERS, starts_at=timezone.now() + timedelta(days=1))
    _refused("OFFER_CLOSED", member=members[2], offer_id=later.pk)
    off = StoreOfferFactory(audience=StoreOfferAudience.FIRST_BUYERS, is_active=False)
    _refused("OFFER_CLOSED", member=members[2], offer_id=off.pk)
    _refused("OFFER_CLOSED", member=members[2], offer_id=offer.pk, store_id=ended.store_id)  # not that store's


def test_follow_is_once_and_unfollow_keeps_collected_coupons():
    member, store = UserFactory(), StoreFactory()
    assert follow_store(member=member, store=store) is True
    assert follow_store(member=member, store=store) is False
    offer = StoreOfferFactory(store=store)
    coupon = collect_store_offer(member=member, offer_id=offer.pk)
    assert unfollow_store(member=member, store=store) is True
    assert not StoreFollow.objects.filter(member=member).exists()
    coupon.refresh_from_db()
    assert coupon.status == "active"


def test_collected_store_coupons_stack_by_the_checkout_rules():
    member, store = UserFactory(), StoreFactory()
    StoreFollowFactory(store=store, member=member)
    first = collect_store_offer(member=member, offer_id=StoreOfferFactory(store=store, value=D("3.00")).pk)
    second = collect_store_offer(member=member, offer_id=StoreOfferFactory(store=store, value=D("2.00")).pk)
    product = ProductFactory(store=store, price=D("100.00"), sale_price=D("70.00"))
    order = flows.checkout(
        member=member, cart_lines=[(product, 1)], card_label="Visa 4242", coupon_ids=[first.pk, second.pk]
    )
    # One store coupon per store: the larger one applies, the other stays in the wallet.
    assert order.total == D("67.00")
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == ("used", "active")
    elsewhere = ProductFactory(price=D("50.00"))
    other = flows.checkout(member=member, cart_lines=[(elsewhere, 1)], card_label="Visa 4242", coupon_ids=[second.pk])
    # A store coupon only discounts its own store's items: nothing off here, and it stays in the wallet.
    second.refresh_from_db()
    assert other.total == D("50.00") and second.status == "active"


# --- pages --------------------------------------------------------------------------------------------------


def test_the_store_page_offers_follow_then_collect(client):
    member = UserFactory()
    store = StoreFactory(name="Northwind", slug="northwind")
    ProductFactory(store=store, name="Trail shoes")
    offer = StoreOfferFactory(store=store, value=D("3.00"))
    first = StoreOfferFactory(store=store, value=D("4.00"), audience=StoreOfferAudience.FIRST_BUYERS)
    url = reverse("orders:store", args=["northwind"])
    html = client.get(url).content.decode()
    assert (
        "Get coupons" in html and "Trail shoes" in html and "Log in to collect" in html and "Log in to follow" in html
    )
    client.force_login(member)
    html = client.get(url).content.decode()
    assert "Follow the store to collect this coupon." in html and "Follow store" in html
    client.post(reverse("orders:store_follow", args=["northwind"]), {"follow": "1"})
    assert StoreFollow.objects.filter(member=member, store=store).exists()
    assert "Unfollow" in client.get(url).content.decode()
    for each in (offer, first):
        response = client.post(reverse("orders:store_collect", args=["northwind", each.pk]), follow=True)
        assert "now in My Coupons" in response.content.decode()
    assert set(Coupon.objects.filter(owner=member).values_list("kind", flat=True)) == {CouponKind.STORE}
    html = client.post(reverse("orders:store_collect", args=["northwind", offer.pk]), follow=True).content.decode()
    assert "You have already collected this coupon." in html
    assert StoreOfferClaim.objects.filter(member=member).count() == 2
    client.post(reverse("orders:store_follow", args=["northwind"]), {"follow": "0"})
    assert not StoreFollow.objects.filter(member=member).exists()


def test_store_pages_answer_404_for_unknown_stores_and_need_a_login_to_act(client):
    assert client.get(reverse("orders:store", args=["nope"])).status_code == 404
    store = StoreFactory(slug="known")
    offer = StoreOfferFactory(store=store)
    assert client.post(reverse("orders:store_collect", args=["known", offer.pk])).status_code == 302
    assert client.post(reverse("orders:store_follow", args=["known"])).status_code == 302
    assert not StoreOfferClaim.objects.exists() and not StoreFollow.objects.exists()


def test_a_flagged_member_gets_the_security_sentence(client):
    member = UserFactory(status="flagged")
    offer = StoreOfferFactory(audience=StoreOfferAudience.FIRST_BUYERS)
    client.force_login(member)
    response = client.post(reverse("orders:store_collect", args=[offer.store.slug, offer.pk]))
    assert response.status_code == 403
    assert "For security reasons, your request cannot be processed." in response.content.decode()
    assert not StoreOfferClaim.objects.exists()


def test_the_store_page_query_count_is_constant(client, django_assert_max_num_queries):
    member, store = UserFactory(), StoreFactory(slug="many")
    for _ in range(8):
        StoreOfferFactory(store=store)
        ProductFactory(store=store)
    client.force_login(member)
    with django_assert_max_num_queries(14):
        assert client.get(reverse("orders:store", args=["many"])).status_code == 200
