"""Event campaigns (e.g. 11.11): members collect platform coupons while the event runs, within its limits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from coupons import events
from coupons.models import Campaign, Coupon, CouponKind, CouponSource, LedgerEntry
from tests.concurrency import run_together
from tests.factories import CampaignFactory, StoreFactory, UserFactory

pytestmark = pytest.mark.django_db

START = datetime(2026, 11, 11, 0, 0, tzinfo=UTC)
END = datetime(2026, 11, 12, 0, 0, tzinfo=UTC)


def event(**kwargs) -> Campaign:
    return CampaignFactory(platform_event=True, **{"starts_at": START, "ends_at": END, **kwargs})


def test_collecting_gives_a_platform_coupon_of_the_event():
    member, campaign = UserFactory(), event(name="11.11 Mega Sale", value=Decimal("11.00"), min_spend=Decimal("60"))
    at = START + timedelta(hours=3)
    coupon = events.collect_event_coupon(member=member, campaign=campaign, at=at)
    assert (coupon.owner, coupon.kind, coupon.source, coupon.campaign) == (
        member,
        CouponKind.PLATFORM,
        CouponSource.EVENT,
        campaign,
    )
    assert (coupon.value, coupon.min_spend, coupon.title) == (Decimal("11.00"), Decimal("60.00"), "11.11 Mega Sale")
    assert coupon.issued_at == at and coupon.expires_at == at + timedelta(days=30)
    assert LedgerEntry.objects.get(coupon=coupon).idempotency_key == f"event:{campaign.pk}:{member.pk}:1"
    campaign.refresh_from_db()
    assert campaign.used_count == 1


@pytest.mark.parametrize(
    ("at", "code"),
    [
        (START - timedelta(seconds=1), events.NOT_STARTED),
        (START, None),
        (END - timedelta(seconds=1), None),
        (END, events.ENDED),
    ],
)
def test_only_while_the_event_runs(at, code):
    member, campaign = UserFactory(), event()
    if code is None:
        assert events.collect_event_coupon(member=member, campaign=campaign, at=at).pk
    else:
        with pytest.raises(events.EventCouponError) as info:
            events.collect_event_coupon(member=member, campaign=campaign, at=at)
        assert info.value.code == code
        assert not Coupon.objects.exists()


def test_a_switched_off_event_is_over():
    campaign = event(is_active=False)
    with pytest.raises(events.EventCouponError, match="has ended"):
        events.collect_event_coupon(member=UserFactory(), campaign=campaign, at=START + timedelta(hours=1))


def test_an_event_without_an_end_runs_until_switched_off():
    campaign = event(ends_at=None)
    assert events.collect_event_coupon(member=UserFactory(), campaign=campaign, at=START + timedelta(days=400))


def test_per_member_limit_one():
    member, campaign = UserFactory(), event(per_member_limit=1)
    at = START + timedelta(hours=1)
    first = events.collect_event_coupon(member=member, campaign=campaign, at=at)
    with pytest.raises(events.EventCouponError) as info:
        events.collect_event_coupon(member=member, campaign=campaign, at=at)
    assert info.value.code == events.ALREADY_COLLECTED and info.value.coupon == first
    assert "already collected" in info.value.message
    campaign.refresh_from_db()
    assert campaign.used_count == 1


def test_per_member_limit_two():
    member, campaign = UserFactory(), event(per_member_limit=2)
    at = START + timedelta(hours=1)
    events.collect_event_coupon(member=member, campaign=campaign, at=at)
    events.collect_event_coupon(member=member, campaign=campaign, at=at)
    with pytest.raises(events.EventCouponError):
        events.collect_event_coupon(member=member, campaign=campaign, at=at)
    assert Coupon.objects.filter(owner=member, campaign=campaign).count() == 2


def test_total_limit():
    campaign = event(usage_limit=2)
    at = START + timedelta(hours=1)
    events.collect_event_coupon(member=UserFactory(), campaign=campaign, at=at)
    events.collect_event_coupon(member=UserFactory(), campaign=campaign, at=at)
    latecomer = UserFactory()
    with pytest.raises(events.EventCouponError) as info:
        events.collect_event_coupon(member=latecomer, campaign=campaign, at=at)
    assert info.value.code == events.SOLD_OUT and "All" in info.value.message
    campaign.refresh_from_db()
    assert campaign.used_count == 2 and Coupon.objects.filter(campaign=campaign).count() == 2


@pytest.mark.parametrize("kwargs", [{"code": "SAVE5"}, {"kind": CouponKind.STORE}, {"kind": CouponKind.SELECT}])
def test_promo_codes_and_store_campaigns_are_not_events(kwargs):
    if kwargs.get("kind") == CouponKind.STORE:
        kwargs = {**kwargs, "store": StoreFactory()}
    campaign = event(**kwargs)
    with pytest.raises(events.EventCouponError) as info:
        events.collect_event_coupon(member=UserFactory(), campaign=campaign, at=START + timedelta(hours=1))
    assert info.value.code == events.NOT_AN_EVENT
    assert campaign not in events.events()


def test_an_event_in_another_currency_is_refused():
    campaign = event(currency="EUR")
    with pytest.raises(events.EventCouponError) as info:
        events.collect_event_coupon(member=UserFactory(), campaign=campaign, at=START + timedelta(hours=1))
    assert info.value.code == events.WRONG_CURRENCY


def test_active_events_lists_running_ones_ending_soonest_first():
    at = START + timedelta(hours=1)
    later = event(name="later", ends_at=END + timedelta(days=3))
    sooner = event(name="sooner")
    open_ended = event(name="open", ends_at=None)
    event(name="over", starts_at=START - timedelta(days=5), ends_at=START - timedelta(days=1))
    event(name="future", starts_at=END)
    event(name="promo", code="PROMO1")
    assert list(events.active_events(at=at)) == [sooner, later, open_ended]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("round_", range(3))
def test_concurrent_collection_stops_exactly_at_the_limit(round_):
    campaign = event(usage_limit=5)
    members = [UserFactory() for _ in range(12)]
    at = START + timedelta(hours=1)
    results, errors = run_together(
        12, lambda i: events.collect_event_coupon(member=members[i], campaign=campaign, at=at)
    )
    assert len(results) == 5 and len(errors) == 7
    assert all(isinstance(e, events.EventCouponError) and e.code == events.SOLD_OUT for e in errors)
    campaign.refresh_from_db()
    assert campaign.used_count == 5 and Coupon.objects.filter(campaign=campaign).count() == 5


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_collection_one_slot_left():
    campaign = event(usage_limit=10, used_count=9)
    members = [UserFactory() for _ in range(8)]
    results, errors = run_together(
        8, lambda i: events.collect_event_coupon(member=members[i], campaign=campaign, at=START + timedelta(hours=1))
    )
    assert len(results) == 1 and len(errors) == 7
    campaign.refresh_from_db()
    assert campaign.used_count == 10


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_double_click_collects_once():
    member, campaign = UserFactory(), event(per_member_limit=1, usage_limit=100)
    results, errors = run_together(
        6, lambda i: events.collect_event_coupon(member=member, campaign=campaign, at=START + timedelta(hours=1))
    )
    assert len(results) == 1 and len(errors) == 5
    assert all(e.code == events.ALREADY_COLLECTED for e in errors)
    campaign.refresh_from_db()
    assert campaign.used_count == 1 and Coupon.objects.filter(owner=member).count() == 1


# --- Rewards page ---------------------------------------------------------------------------------


def running_event(**kwargs) -> Campaign:
    return CampaignFactory(platform_event=True, **kwargs)  # starts yesterday, ends in 10 days


def test_rewards_page_shows_running_events_with_a_collect_button(client):
    member = UserFactory()
    campaign = running_event(name="11.11 Mega Sale", usage_limit=1111)
    CampaignFactory(
        platform_event=True,
        name="Past sale",
        starts_at=START - timedelta(days=400),
        ends_at=START - timedelta(days=390),
    )
    client.force_login(member)
    html = client.get(reverse("accounts:rewards")).content.decode()
    assert "11.11 Mega Sale" in html and "Past sale" not in html
    assert reverse("accounts:collect_event", args=[campaign.pk]) in html and "1111 left" in html


def test_collect_button_then_collected(client):
    member = UserFactory()
    campaign = running_event(name="11.11 Mega Sale")
    client.force_login(member)
    url = reverse("accounts:collect_event", args=[campaign.pk])
    html = client.post(url, follow=True).content.decode()
    assert "Collected: your 11.11 Mega Sale coupon is in My Coupons." in html
    assert "See it in My Coupons" in html and url not in html
    html = client.post(url, follow=True).content.decode()
    assert "already collected" in html
    assert Coupon.objects.filter(owner=member).count() == 1


def test_sold_out_event_says_so(client):
    campaign = running_event(usage_limit=1)
    events.collect_event_coupon(member=UserFactory(), campaign=campaign)
    client.force_login(UserFactory())
    html = client.get(reverse("accounts:rewards")).content.decode()
    assert "All collected" in html
    html = client.post(reverse("accounts:collect_event", args=[campaign.pk]), follow=True).content.decode()
    assert "have been collected" in html


def test_unknown_or_non_event_campaigns_answer_404(client):
    client.force_login(UserFactory())
    promo = running_event(code="SAVE10")
    assert client.post(reverse("accounts:collect_event", args=[promo.pk])).status_code == 404
    assert client.post(reverse("accounts:collect_event", args=[999999])).status_code == 404


def test_flagged_members_cannot_collect(client):
    from accounts.services import flag_account

    member = UserFactory()
    flag_account(member=member, reason_code="STAFF_REVIEW")
    campaign = running_event()
    client.force_login(member)
    assert client.post(reverse("accounts:collect_event", args=[campaign.pk])).status_code == 403
    assert not Coupon.objects.exists()
